"""A loopback Hugging Face hub serving one dataset repository folder through
the two public endpoints a download uses: the revision's file list and the
files. Prints the port, then serves until killed.

usage: hf_hub_server.py REPO_DIR REPO_ID SHA
"""
import http.server
import json
import os
import sys
import urllib.parse

repo_dir, repo_id, sha = sys.argv[1], sys.argv[2], sys.argv[3]


def files():
    out = []
    for root, _, names in os.walk(repo_dir):
        for n in names:
            out.append(os.path.relpath(os.path.join(root, n), repo_dir))
    return sorted(out)


class Hub(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, code, body, kind="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = urllib.parse.unquote(self.path)
        info = f"/api/datasets/{repo_id}/revision/"
        resolve = f"/datasets/{repo_id}/resolve/{sha}/"
        if path == info + "main":
            body = {"id": repo_id, "sha": sha, "siblings": [{"rfilename": f} for f in files()]}
            return self.send(200, json.dumps(body).encode())
        if path.startswith(resolve):
            rel = path[len(resolve):]
            if rel in files():
                with open(os.path.join(repo_dir, rel), "rb") as f:
                    return self.send(200, f.read(), "application/octet-stream")
        self.send(404, b'{"error": "not found"}')


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
print(server.server_address[1], flush=True)
server.serve_forever()
