"""Training-loader benchmark: images/s through
DataLoader(ds.pytorch(), batch_size=64, num_workers=2) over real images,
for this package, the reference `deeplake` package and plain PIL file
loading, plus rows/s of ds.batches(256). Every side runs in the same run on
the same files.

usage: loader.py prepare DIR N   (writes N JPEG crops of scikit-image photos)
       loader.py ours DIR         (in .venv-test, with this package)
       loader.py remote DIR       (this package against `python -m deeplake.server` on loopback)
       loader.py reference DIR    (in .venv-reference, deeplake 4.7.4)
       loader.py pil DIR
Each measuring command prints one JSON object.
"""

import json
import os
import sys
import tempfile
import time

import numpy as np

BATCH, WORKERS, EPOCHS = 64, 2, 2


def prepare(out, n):
    import skimage
    from PIL import Image

    data = os.path.dirname(skimage.data.__file__)
    photos = ["retina.jpg", "hubble_deep_field.jpg", "motorcycle_left.png", "rocket.jpg",
              "astronaut.png", "coffee.png", "chelsea.png", "motorcycle_right.png"]
    size, stride = 64, 16
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    labels, k = [], 0
    for p, name in enumerate(photos):
        img = np.asarray(Image.open(os.path.join(data, name)).convert("RGB"))
        for y in range(0, img.shape[0] - size + 1, stride):
            for x in range(0, img.shape[1] - size + 1, stride):
                if k == n:
                    break
                Image.fromarray(img[y:y + size, x:x + size]).save(
                    os.path.join(out, "images", f"{k:06d}.jpg"), quality=90)
                labels.append(p)
                k += 1
    with open(os.path.join(out, "labels.json"), "w") as f:
        json.dump(labels, f)
    print(json.dumps({"images": k}))


def files(out):
    with open(os.path.join(out, "labels.json")) as f:
        labels = json.load(f)
    paths = [os.path.join(out, "images", f"{i:06d}.jpg") for i in range(len(labels))]
    return paths, labels


def loader_rate(dataset, key):
    """Images/s over the best of EPOCHS shuffled epochs."""
    from torch.utils.data import DataLoader

    best = 0.0
    for _ in range(EPOCHS):
        loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=WORKERS)
        t0, n = time.perf_counter(), 0
        for batch in loader:
            assert batch[key].shape[1:] == (64, 64, 3)
            n += batch[key].shape[0]
        best = max(best, n / (time.perf_counter() - t0))
    return best


def batches_rate(make):
    best = 0.0
    for _ in range(EPOCHS):
        t0, n = time.perf_counter(), 0
        for b in make():
            n += len(b["label"])
        best = max(best, n / (time.perf_counter() - t0))
    return best


def ours(out, remote=False):
    import base64
    from deeplake import Client

    paths, labels = files(out)
    claims = base64.urlsafe_b64encode(json.dumps({"OrgID": "bench"}).encode()).rstrip(b"=").decode()
    token = "e30." + claims + ".sig"
    root = tempfile.mkdtemp(dir=out)
    server = None
    if remote:
        import secrets
        import socket
        import subprocess
        import urllib.request
        from deeplake.server import create_token

        secret = secrets.token_hex(32)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = dict(os.environ, DEEPLAKE_JWT_SECRET=secret, RUST_LOG="warn")
        server = subprocess.Popen([sys.executable, "-m", "deeplake.server", "--root", root,
                                   "--http", f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        token = create_token(org="bench", jwt_secret=secret)
        client = Client(token=token, workspace_id="bench", api_url=url)
    else:
        client = Client(token=token, workspace_id="bench", api_url="file://" + root)
    blobs = [open(p, "rb").read() for p in paths]
    t0 = time.perf_counter()
    client.ingest("images", {"image": blobs, "label": labels}, schema={"image": "IMAGE"})
    ingest = len(blobs) / (time.perf_counter() - t0)
    ds = client.open_table("images")
    result = {
        "ingest": ingest,
        "pytorch": loader_rate(ds.pytorch(), "image"),
        "batches": batches_rate(lambda: ds.batches(256, decode_images=False)),
        "batches_decoded": batches_rate(lambda: ds.batches(256, decode_images=True)),
    }
    if server is not None:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps(result))


def reference(out):
    import deeplake

    paths, labels = files(out)
    path = tempfile.mkdtemp(dir=out)
    ds = deeplake.create("file://" + path)
    ds.add_column("image", deeplake.types.Image(sample_compression="jpg"))
    ds.add_column("label", deeplake.types.Int64())
    blobs = [open(p, "rb").read() for p in paths]
    t0 = time.perf_counter()
    for i in range(0, len(blobs), 1000):
        ds.append({"image": blobs[i:i + 1000], "label": labels[i:i + 1000]})
    ds.commit()
    ingest = len(blobs) / (time.perf_counter() - t0)
    ds = deeplake.open_read_only("file://" + path)
    result = {
        "ingest": ingest,
        "pytorch": loader_rate(ds.pytorch(), "image"),
        "batches": batches_rate(lambda: ds.batches(256)),
    }
    print(json.dumps(result))


class PilFiles:
    """The plain baseline: a map-style dataset of JPEG files read with PIL."""

    def __init__(self, paths, labels):
        self.paths, self.labels = paths, labels

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import Image

        with Image.open(self.paths[i]) as im:
            return {"image": np.asarray(im.convert("RGB")), "label": self.labels[i]}


def pil(out):
    paths, labels = files(out)
    print(json.dumps({"pytorch": loader_rate(PilFiles(paths, labels), "image")}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "prepare":
        prepare(sys.argv[2], int(sys.argv[3]))
    else:
        run = {"ours": ours, "remote": lambda d: ours(d, remote=True), "reference": reference, "pil": pil}
        run[cmd](sys.argv[2])
