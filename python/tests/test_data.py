"""Data in (dicts, numpy, pyarrow, bytes, format objects, progress) and
data out (native Python types, Arrow and pandas)."""

import json
import os
import threading
import time

import numpy as np
import pyarrow as pa
import pytest

from conftest import SKIMAGE, png_bytes, spawn, tiles
from deeplake.managed import IngestError, Json, vector_literal


def test_native_types_round_trip(client):
    data = {
        "flag": [True, False],
        "n": [9999999999, -1],
        "x": [3.14159265359, 2.5],
        "s": ["hello", "wörld"],
        "b": [b"\x00\x01", b""],
        "v": [[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]],
        "multi": [[[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.5], [1.0, 1.0]]],
        "meta": [{"a": 1, "tags": ["x"]}, {"a": None}],
        "maybe": [None, 7],
    }
    client.ingest("t", data)
    rows = client.query("SELECT * FROM t ORDER BY n DESC")
    assert [type(rows[0][k]).__name__ for k in ("flag", "n", "x", "s", "b")] == ["bool", "int", "float", "str", "bytes"]
    assert rows[0]["n"] == 9999999999 and rows[1]["s"] == "wörld" and rows[0]["b"] == b"\x00\x01"
    assert rows[0]["v"] == pytest.approx([0.1, 0.2, 0.3], rel=1e-6)
    assert rows[0]["multi"] == [[1.0, 0.0], [0.0, 1.0]]
    assert isinstance(rows[0]["meta"], Json) and rows[0]["meta"].value == {"a": 1, "tags": ["x"]}
    assert json.loads(rows[1]["meta"]) == {"a": None}
    assert rows[0]["maybe"] is None and rows[1]["maybe"] == 7
    types = client.open_table("t").schema
    assert types["v"] == "EMBEDDING(3)" and types["meta"] == "JSON" and types["n"] == "INT64"


def test_numpy_embeddings_and_columns(client):
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((1000, 384)).astype(np.float32)
    client.ingest("docs", {
        "id": np.arange(1000, dtype=np.int64),
        "score": rng.random(1000),
        "text": np.array([f"doc {i}" for i in range(1000)]),
        "embedding": emb,
    })
    ds = client.open_table("docs")
    assert ds.schema["embedding"] == "EMBEDDING(384)"
    np.testing.assert_array_equal(ds["embedding"][0:1000], emb)
    q = emb[123]
    hit = client.query("SELECT id, embedding <#> $1::float4[] AS s FROM docs ORDER BY s DESC LIMIT 1", (q.tolist(),))
    assert hit[0]["id"] == 123 and hit[0]["s"] == pytest.approx(1.0, abs=1e-5)
    # A vector literal inlined in SQL finds the same row.
    lit = client.query(f"SELECT id FROM docs ORDER BY embedding <#> {vector_literal(q)} DESC LIMIT 1")
    assert lit[0]["id"] == 123
    # float64 matrices are stored as float32 embeddings.
    client.ingest("f64", {"e": emb[:10].astype(np.float64)})
    np.testing.assert_allclose(client.open_table("f64")["e"][0:10], emb[:10])


def test_pyarrow_table_and_bytes(client):
    images = [png_bytes(t) for t in tiles(5)]
    table = pa.table({
        "label": pa.array([1, 2, 3, 4, 5], pa.int32()),
        "image": pa.array(images, pa.binary()),
        "caption": pa.array(["a", "b", "c", "d", "e"]),
    })
    r = client.ingest("pa", table, schema={"image": "IMAGE"})
    assert r["row_count"] == 5
    ds = client.open_table("pa")
    assert ds.schema == {"label": "INT32", "image": "IMAGE", "caption": "TEXT"}
    assert client.query("SELECT image FROM pa WHERE label = 3")[0]["image"] == images[2]
    # Arrow and pandas out.
    t = client.query_arrow("SELECT label, caption FROM pa ORDER BY label")
    assert isinstance(t, pa.Table) and t.column("caption").to_pylist() == ["a", "b", "c", "d", "e"]
    df = client.query_pandas("SELECT label FROM pa WHERE label > $1", (2,))
    # A single bare parameter is the one parameter.
    assert client.query_pandas("SELECT label FROM pa WHERE label > $1", 2).equals(df)
    assert df["label"].tolist() == [3, 4, 5]
    # A dict may mix chunked pyarrow columns with plain lists.
    client.ingest("mixed", {"x": pa.chunked_array([[1, 2], [3]]), "y": ["a", "b", "c"]})
    assert client.query("SELECT x, y FROM mixed ORDER BY x") == [
        {"x": 1, "y": "a"}, {"x": 2, "y": "b"}, {"x": 3, "y": "c"}]


# The spec's two custom-format examples, verbatim.
from pathlib import Path
class CsvWithImages:
    """Format for a CSV file where one column contains image file paths."""
    def __init__(self, csv_path, images_dir):
        self.csv_path = Path(csv_path)
        self.images_dir = Path(images_dir)
    def schema(self):
        """Optional: declare column types for pg_deeplake domain mapping."""
        return {"image": "IMAGE"}
    def normalize(self):
        import csv
        with open(self.csv_path) as f:
            rows = list(csv.DictReader(f))
        batch = []
        for row in rows:
            img_path = self.images_dir / row["image_file"]
            if not img_path.exists():
                continue
            batch.append({
                "image": img_path.read_bytes(),
                "label": row["label"],
                "confidence": float(row["confidence"]),
            })
            if len(batch) >= 100:
                yield {k: [d[k] for d in batch] for k in batch[0]}
                batch = []
        if batch:
            yield {k: [d[k] for d in batch] for k in batch[0]}


from pathlib import Path
class ImageFolderWithEmbeddings:
    """Images in subfolders (subfolder name = label) + pre-computed embeddings."""
    def __init__(self, root_dir, embeddings_path):
        self.root_dir = Path(root_dir)
        self.embeddings_path = Path(embeddings_path)
    def normalize(self):
        import json
        with open(self.embeddings_path) as f:
            embeddings = json.load(f)
        batch = []
        for label_dir in sorted(self.root_dir.iterdir()):
            if not label_dir.is_dir():
                continue
            label = label_dir.name
            for img_path in sorted(label_dir.glob("*.jpg")):
                emb = embeddings.get(img_path.name)
                if emb is None:
                    continue
                batch.append({
                    "image": img_path.read_bytes(),
                    "label": label,
                    "embedding": emb,
                    "filename": img_path.name,
                })
                if len(batch) >= 100:
                    yield {k: [d[k] for d in batch] for k in batch[0]}
                    batch = []
        if batch:
            yield {k: [d[k] for d in batch] for k in batch[0]}


def test_spec_format_csv_with_images(client, tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    os.makedirs("images")
    lines = ["image_file,label,confidence"]
    for i, t in enumerate(tiles(250)):
        Image.fromarray(t).save(f"images/{i}.png")
        lines.append(f"{i}.png,{'cat' if i % 2 else 'dog'},{i / 250}")
    lines.append("missing.png,cat,0.5")  # skipped by the format: no such image
    Path("annotations.csv").write_text("\n".join(lines) + "\n")

    client.ingest("labeled_images", format=CsvWithImages(
        csv_path="annotations.csv",
        images_dir="images/",
    ))

    ds = client.open_table("labeled_images")
    assert len(ds) == 250 and ds.schema == {"image": "IMAGE", "label": "TEXT", "confidence": "FLOAT64"}
    assert ds["image"][7].shape == (32, 32, 3)
    np.testing.assert_array_equal(ds["image"][7], np.asarray(Image.open("images/7.png")))
    assert client.query("SELECT count(*) AS n FROM labeled_images WHERE label = 'cat'")[0]["n"] == 125


def test_spec_format_image_folder_with_embeddings(client, tmp_path):
    from PIL import Image

    root = tmp_path / "imagenet" / "train"
    embeddings = {}
    for i, t in enumerate(tiles(30)):
        label = ["n01", "n02", "n03"][i % 3]
        (root / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(t).save(root / label / f"{i}.jpg", quality=95)
        if i != 4:  # one image has no embedding and is left out
            embeddings[f"{i}.jpg"] = [float(i), 1.0, 0.5]
    (tmp_path / "embeddings.json").write_text(json.dumps(embeddings))

    client.ingest("classified_images", format=ImageFolderWithEmbeddings(
        root_dir=str(root),
        embeddings_path=str(tmp_path / "embeddings.json"),
    ))

    rows = client.query("SELECT label, filename, embedding FROM classified_images ORDER BY filename")
    assert len(rows) == 29 and "4.jpg" not in {r["filename"] for r in rows}
    assert client.open_table("classified_images").schema["embedding"] == "EMBEDDING(3)"
    first = next(r for r in rows if r["filename"] == "10.jpg")
    assert first["label"] == "n02" and first["embedding"] == [10.0, 1.0, 0.5]


def test_format_batches_are_pulled_lazily(client):
    events = []

    class Counting:
        def normalize(self):
            for b in range(5):
                events.append(("yield", b))
                yield {"n": list(range(b * 1000, b * 1000 + 1000))}

    def progress(done, total):
        events.append(("progress", done))

    client.ingest("lazy", format=Counting(), on_progress=progress)
    # Rows of the first batch were written before the last batch was made.
    first_progress = next(i for i, e in enumerate(events) if e[0] == "progress")
    assert first_progress < events.index(("yield", 4))
    assert client.query("SELECT count(*) AS n, max(n) AS m FROM lazy")[0] == {"n": 5000, "m": 4999}


def test_format_schema_and_user_schema(client):
    class Hinted:
        def schema(self):
            return {"mask": "SEGMENT_MASK", "box": "BOUNDING_BOX"}

        def normalize(self):
            yield {"mask": [b"\x01\x02"], "box": [[1.0, 2.0, 3.0, 4.0]], "kind": [3]}

    client.ingest("hinted", format=Hinted(), schema={"kind": "CLASS_LABEL"})
    assert client.open_table("hinted").schema == {"mask": "SEGMENT_MASK", "box": "BOUNDING_BOX", "kind": "CLASS_LABEL"}


def test_exception_in_normalize_is_chained(client):
    class Failing:
        def normalize(self):
            yield {"n": [1, 2]}
            raise FileNotFoundError("labels.csv is missing")

    with pytest.raises(IngestError, match="normalize\\(\\) raised FileNotFoundError: labels.csv is missing") as e:
        client.ingest("bad", format=Failing())
    assert isinstance(e.value.__cause__, FileNotFoundError)
    assert "bad" not in client.list_tables()

    class BadBatch:
        def normalize(self):
            yield [1, 2, 3]

    with pytest.raises(IngestError, match="must yield dict"):
        client.ingest("bad", format=BadBatch())

    class BadSchema:
        def schema(self):
            raise ValueError("no schema today")

        def normalize(self):
            yield {"n": [1]}

    with pytest.raises(IngestError, match="no schema today") as e:
        client.ingest("bad", format=BadSchema())
    assert isinstance(e.value.__cause__, ValueError)


def test_progress_callback(client):
    calls = []
    client.ingest("p", {"n": list(range(4500))}, on_progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (4500, 4500)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls) and len(calls) >= 3

    def explode(done, total):
        if done > 1000:
            raise RuntimeError("stop here")

    with pytest.raises(IngestError, match="on_progress callback raised RuntimeError: stop here") as e:
        client.ingest("q", {"n": list(range(4500))}, on_progress=explode)
    assert isinstance(e.value.__cause__, RuntimeError)
    assert "q" not in client.list_tables()


def test_gil_is_released_during_ingest(client, files):
    # A Python thread keeps counting while a PDF renders in the native core.
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    start = time.perf_counter()
    try:
        client.ingest("manual", {"path": [str(files / "manual1.pdf")]}, schema={"path": "FILE"})
    finally:
        end = time.perf_counter()
        stop.set()
        t.join()
    during = [x for x in ticks if start < x < end]
    # The thread ran throughout, not just before and after.
    assert len(during) > 20 and max(np.diff([start] + during + [end])) < 0.5 * (end - start)


def test_appending_and_modes(client):
    client.ingest("m", {"n": [1, 2]})
    client.ingest("m", {"n": [3]}, mode="append")
    assert client.query("SELECT sum(n) AS s FROM m")[0]["s"] == 6
    client.ingest("m", {"n": [10]}, mode="overwrite")
    assert client.query("SELECT sum(n) AS s FROM m")[0]["s"] == 10
    with pytest.raises(IngestError, match="^Unknown mode 'sideways': use 'create', 'append' or 'overwrite'.$"):
        client.ingest("m", {"n": [1]}, mode="sideways")


def test_text_chunking_options(client, files):
    r = client.ingest("notes", {"path": [str(files / "notes.txt")]}, schema={"path": "FILE"},
                      chunk_size=500, chunk_overlap=100)
    texts = [row["text"] for row in client.query("SELECT text FROM notes")]
    assert r["row_count"] == len(texts) > 50 and max(len(t) for t in texts) <= 550
    with pytest.raises(IngestError, match="chunk_size must be positive"):
        client.ingest("bad", {"path": [str(files / "notes.txt")]}, schema={"path": "FILE"}, chunk_size=0)


def _coco(files):
    from deeplake.managed.formats import CocoPanoptic

    root = files / "coco"
    return CocoPanoptic(images_dir=root / "train2017", masks_dir=root / "panoptic_train2017",
                        annotations=root / "annotations" / "panoptic_train2017.json", batch_size=2)


def test_coco_panoptic_is_a_format_object(client, files):
    coco = _coco(files)
    assert coco.schema() == {"image": "IMAGE", "mask": "SEGMENT_MASK", "segments_info": "JSON", "categories": "JSON"}
    batches = list(coco.normalize())
    # batch_size=2 over three annotated images: the spec's dict[str, list] batches.
    assert [len(b["image_id"]) for b in batches] == [2, 1]
    assert all(set(b) == {"image_id", "image", "mask", "width", "height", "filename", "segments_info", "categories"}
               for b in batches)
    with open(files / "coco" / "annotations" / "panoptic_train2017.json") as f:
        truth = json.load(f)
    first = batches[0]
    assert first["image_id"] == [1, 2] and first["filename"] == ["000000000001.jpg", "000000000002.jpg"]
    assert first["image"][0] == (files / "coco" / "train2017" / "000000000001.jpg").read_bytes()
    assert first["mask"][1] == (files / "coco" / "panoptic_train2017" / "000000000002.png").read_bytes()
    assert json.loads(first["segments_info"][0]) == truth["annotations"][0]["segments_info"]
    assert isinstance(first["width"][0], int) and first["width"][0] == truth["images"][0]["width"]
    # A format loop that knows nothing of COCO ingests it as any format.

    class Wrapped:
        def schema(self):
            return coco.schema()

        def normalize(self):
            return coco.normalize()

    r = client.ingest("wrapped", format=Wrapped())
    native = client.ingest("native", format=coco)
    assert r["row_count"] == native["row_count"] == 3
    cols = "image_id, image, mask, width, height, filename, segments_info, categories"
    assert client.query(f"SELECT {cols} FROM wrapped ORDER BY image_id") == \
        client.query(f"SELECT {cols} FROM native ORDER BY image_id")
    assert client.open_table("wrapped").schema == client.open_table("native").schema
    with pytest.raises(IngestError, match="batch_size must be a positive integer"):
        type(coco)("a", "b", "c", batch_size=0)
    with pytest.raises(IngestError, match="^File not found: "):
        type(coco)(files, files, files / "none.json").normalize()


def test_coco_panoptic_subclasses_are_honoured(client, files):
    from deeplake.managed.formats import CocoPanoptic

    class Wide(CocoPanoptic):
        """Keeps only wide images and adds a column."""

        def normalize(self):
            for b in super().normalize():
                keep = [i for i, (w, h) in enumerate(zip(b["width"], b["height"])) if w > h]
                out = {k: [v[i] for i in keep] for k, v in b.items()}
                out["aspect"] = [b["width"][i] / b["height"][i] for i in keep]
                if keep:
                    yield out

    class RawImages(CocoPanoptic):
        def schema(self):
            return {**super().schema(), "image": "BINARY"}

    base = _coco(files)
    args = dict(images_dir=base.images_dir, masks_dir=base.masks_dir, annotations=base.annotations)
    client.ingest("wide", format=Wide(**args))
    with open(files / "coco" / "annotations" / "panoptic_train2017.json") as f:
        wide = [i["id"] for i in json.load(f)["images"] if i["width"] > i["height"]]
    rows = client.query("SELECT image_id, aspect FROM wide ORDER BY image_id")
    assert [r["image_id"] for r in rows] == wide and all(r["aspect"] > 1 for r in rows)
    client.ingest("raw", format=RawImages(**args))
    assert client.open_table("raw").schema["image"] == "BINARY"
    assert client.open_table("raw").schema["mask"] == "SEGMENT_MASK"


CIFAR_SHA = "0b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c"


@pytest.fixture
def cifar_repo(tmp_path):
    """cifar10 as the hub serves it: parquet shards with the image bytes
    inside, written by the real `datasets` library."""
    import datasets

    from conftest import write_cifar10

    saved = tmp_path / "saved"
    write_cifar10(str(saved), count=40)
    repo = tmp_path / "repo"
    (repo / "plain_text").mkdir(parents=True)
    train = datasets.load_from_disk(str(saved))["train"]
    train.shard(2, 0, contiguous=True).to_parquet(str(repo / "plain_text" / "train-00000-of-00002.parquet"))
    train.shard(2, 1, contiguous=True).to_parquet(str(repo / "plain_text" / "train-00001-of-00002.parquet"))
    return repo, train


def _check_cifar(client, table, train):
    ds = client.open_table(table)
    assert len(ds) == 40 and ds.schema["img"] == "IMAGE" and ds.schema["label"] == "CLASS_LABEL"
    np.testing.assert_array_equal(ds[7]["img"], np.asarray(train[7]["img"].convert("RGB")))
    assert ds["label"][:].tolist() == train["label"]


def test_huggingface_cifar10_by_name_from_the_hub_cache(client, cifar_repo, tmp_path, monkeypatch):
    import shutil

    repo, train = cifar_repo
    monkeypatch.chdir(tmp_path)  # no folder named cifar10 here
    cache = tmp_path / "hub"
    snapshot = cache / "datasets--cifar10" / "snapshots" / CIFAR_SHA
    shutil.copytree(repo, snapshot)
    (cache / "datasets--cifar10" / "refs").mkdir()
    (cache / "datasets--cifar10" / "refs" / "main").write_text(CIFAR_SHA)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert client.ingest("cifar", {"_huggingface": "cifar10"})["row_count"] == 40
    _check_cifar(client, "cifar", train)


def test_huggingface_cifar10_by_name_from_a_loopback_hub(client, cifar_repo, tmp_path, monkeypatch):
    import subprocess
    import sys

    repo, train = cifar_repo
    monkeypatch.chdir(tmp_path)
    server = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "python", "hf_hub_server.py")
    hub = spawn([sys.executable, server, str(repo), "cifar10", CIFAR_SHA], stdout=subprocess.PIPE, text=True)
    try:
        port = int(hub.stdout.readline())
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
        monkeypatch.delenv("HF_HUB_OFFLINE")
        assert client.ingest("cifar", {"_huggingface": "cifar10"})["row_count"] == 40
    finally:
        hub.kill()
        hub.wait(timeout=10)
    _check_cifar(client, "cifar", train)
    # The shards are in the hub cache now, where an offline ingest finds them.
    shards = tmp_path / "hub" / "datasets--cifar10" / "snapshots" / CIFAR_SHA / "plain_text"
    assert sorted(p.name for p in shards.iterdir()) == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert client.ingest("again", {"_huggingface": "cifar10"})["row_count"] == 40
