"""The training API: open_table, rows, column slices, batches, views,
PyTorch (including spawned, pickled workers), TensorFlow, pandas."""

import asyncio
import io
import pickle

import numpy as np
import pytest
from PIL import Image

from conftest import png_bytes, tiles
from deeplake.managed import TableError


@pytest.fixture
def images(client):
    pics = tiles(300)
    client.ingest("pics", {
        "image": [png_bytes(t) for t in pics],
        "label": [i % 7 for i in range(300)],
        "caption": [f"tile {i}" for i in range(300)],
        "embedding": np.stack([np.full(4, i, np.float32) for i in range(300)]),
    }, schema={"image": "IMAGE", "label": "CLASS_LABEL"})
    return pics


def test_rows_and_columns(client, images):
    ds = client.open_table("pics")
    assert len(ds) == 300 and ds.columns == ["image", "label", "caption", "embedding"]
    row = ds[5]
    np.testing.assert_array_equal(row["image"], images[5])
    assert row["label"] == 5 and row["caption"] == "tile 5" and isinstance(row["label"], int)
    assert ds[-1]["caption"] == "tile 299"
    with pytest.raises(IndexError, match="^row 300 out of range for 300 rows$"):
        ds[300]
    labels = ds["label"][10:20]
    assert isinstance(labels, np.ndarray) and labels.tolist() == [i % 7 for i in range(10, 20)]
    emb = ds["embedding"][0:3]
    assert emb.shape == (3, 4) and emb.dtype == np.float32 and emb[2].tolist() == [2.0] * 4
    assert ds["caption"][298:] == ["tile 298", "tile 299"]
    assert ds["image"][0:2].shape == (2, 32, 32, 3)
    with pytest.raises(TableError, match="Column 'nope' does not exist"):
        ds["nope"]
    # Rows picked by a list of positions (any order, negative from the end)
    # or by a boolean mask.
    picked = ds[[7, 2, -1]]
    assert picked["caption"] == ["tile 7", "tile 2", "tile 299"]
    np.testing.assert_array_equal(picked["image"][1], images[2])
    assert ds["label"][np.array([3, 10])].tolist() == [3, 3]
    mask = ds["label"][:] == 6
    assert ds[mask]["caption"] == [f"tile {i}" for i in range(300) if i % 7 == 6]
    with pytest.raises(IndexError, match="out of range"):
        ds[[0, 300]]
    with pytest.raises(IndexError, match="300 entries"):
        ds[mask[:10]]
    with pytest.raises(TypeError, match="list of ints"):
        ds[1.5]
    with pytest.raises(TypeError, match="must be ints"):
        ds[[0.5, 1.5]]


def test_get_async(client, images):
    ds = client.open_table("pics")

    async def load_row(row):
        image, text = await asyncio.gather(
            row.get_async("image"),
            row.get_async("caption"),
        )
        return image, text

    async def main():
        return await asyncio.gather(*(load_row(ds[i]) for i in range(0, 300, 50)))

    got = asyncio.run(main())
    assert [t for _, t in got] == [f"tile {i}" for i in range(0, 300, 50)]
    for (img, _), i in zip(got, range(0, 300, 50)):
        np.testing.assert_array_equal(img, images[i])


def test_batches(client, images):
    ds = client.open_table("pics")
    batches = list(ds.batches(64))
    assert [len(b["caption"]) for b in batches] == [64, 64, 64, 64, 44]
    b = batches[1]
    assert b["label"].shape == (64,) and b["embedding"].shape == (64, 4)
    assert isinstance(b["caption"], list) and b["caption"][0] == "tile 64"
    # Images decode as every other read decodes them...
    assert b["image"].shape == (64, 32, 32, 3) and b["image"].dtype == np.uint8
    np.testing.assert_array_equal(b["image"][3], images[67])
    assert [len(b["caption"]) for b in ds.batches(64, drop_last=True)] == [64] * 4
    # ...and the one flag gives the stored bytes instead.
    raw = next(ds.batches(8, columns=["image"], decode_images=False))
    assert list(raw) == ["image"] and raw["image"][3] == png_bytes(images[3])
    with pytest.raises(ValueError, match="^batch_size must be a positive integer, got 0$"):
        next(ds.batches(0))


def test_every_read_decodes_images_alike(client, images):
    ds = client.open_table("pics")
    want = images[42]
    reads = {
        "row": ds[42]["image"],
        "row.get": ds[42].get("image"),
        "column slice": ds["image"][42:43][0],
        "rows slice": ds[40:44]["image"][2],
        "batches": next(ds.batches(50))["image"][42],
        "pytorch": ds.pytorch()[42]["image"],
        "tensorflow": next(iter(ds.tensorflow(columns=["image"]).skip(42)))["image"].numpy(),
        "iteration": [r for r in ds][42]["image"],
        "view": ds.query("SELECT * WHERE caption = 'tile 42'")[0]["image"],
    }
    for how, got in reads.items():
        assert isinstance(got, np.ndarray) and got.shape == (32, 32, 3), how
        np.testing.assert_array_equal(got, want, err_msg=how)
    encoded = png_bytes(want)
    raw = {
        "row.get": ds[42].get("image", decode_images=False),
        "row.to_dict": ds[42].to_dict(decode_images=False)["image"],
        "column": ds["image"].numpy(decode_images=False)[42],
        "batches": next(ds.batches(50, decode_images=False))["image"][42],
        "pytorch": ds.pytorch(decode_images=False)[42]["image"],
        "tensorflow": next(iter(ds.tensorflow(columns=["image"], decode_images=False).skip(42)))["image"].numpy(),
        "iteration": [r for r in ds][42].get("image", decode_images=False),
    }
    for how, got in raw.items():
        assert got == encoded, how


def test_iteration_yields_rows(client, images):
    ds = client.open_table("pics")
    rows = list(ds)
    assert len(rows) == 300 and all(type(r).__name__ == "Row" for r in rows)
    assert [r.index for r in rows] == list(range(300))
    r = rows[123]
    assert r["caption"] == "tile 123" and r["label"] == 123 % 7 and isinstance(r["label"], int)
    assert r["embedding"].tolist() == [123.0] * 4 and r.keys() == ds.columns
    assert r.to_dict()["caption"] == "tile 123"
    with pytest.raises(TableError, match="Column 'nope' does not exist"):
        r["nope"]

    async def both(row):
        return await asyncio.gather(row.get_async("image"), row.get_async("caption"))

    image, caption = asyncio.run(both(r))
    assert caption == "tile 123"
    np.testing.assert_array_equal(image, images[123])
    # Views iterate the same way, in the view's order.
    view = ds.query("SELECT * WHERE label = 3 ORDER BY caption DESC")
    assert [row["caption"] for row in view] == view["caption"][:]


def test_views_cannot_be_queried_again(client, images):
    view = client.open_table("pics").query("SELECT * WHERE label = 3")
    with pytest.raises(TableError, match="^A view cannot be queried: query the dataset once with every condition") as e:
        view.query("SELECT * WHERE caption = 'tile 3'")
    assert "ds.query(\"SELECT * WHERE" in str(e.value) and "view.to_pandas()" in str(e.value)


def test_query_view(client, images):
    ds = client.open_table("pics")
    view = ds.query("SELECT * WHERE label = 3 ORDER BY caption")
    assert len(view) == len([i for i in range(300) if i % 7 == 3])
    assert view.columns == ds.columns and view.schema == ds.schema
    np.testing.assert_array_equal(view[0]["image"], images[int(view[0]["caption"].split()[1])])
    assert all(int(x) == 3 for b in view.batches(10) for x in b["label"])
    assert view["label"][0:3].tolist() == [3, 3, 3]
    # A WHERE with the word "from" in a string still finds its table.
    assert len(ds.query("SELECT caption WHERE caption <> 'from here'")) == 300
    df = view.to_pandas()
    assert len(df) == len(view) and set(df["label"]) == {3}


def test_to_pandas_summary_refresh(client, images, capsys):
    ds = client.open_table("pics")
    df = ds.to_pandas()
    assert len(df) == 300 and df["caption"].iloc[7] == "tile 7"
    ds.summary()
    out = capsys.readouterr().out
    assert "300 rows" in out and "CLASS_LABEL" in out and "EMBEDDING(4)" in out
    before = ds.version
    client.ingest("pics", {"image": [png_bytes(images[0])], "label": [1], "caption": ["new"],
                           "embedding": [[0.0] * 4]}, mode="append")
    assert len(ds) == 300  # pinned to its version until refreshed
    # Its queries read that version too; the client's read the newest.
    assert len(ds.query("SELECT caption")) == 300
    assert len(ds.query("SELECT caption WHERE caption = $1", ["new"])) == 0
    assert len(client.query("SELECT caption FROM pics WHERE caption = 'new'")) == 1
    with pytest.raises(TableError, match="read-only"):
        ds.query("DELETE FROM pics WHERE label = 1")
    assert ds.refresh() is True and len(ds) == 301 and ds.version > before
    assert ds.query("SELECT caption WHERE caption = $1", ["new"])["caption"][0] == "new"
    assert ds[300]["caption"] == "new"
    old = ds.checkout(before)
    assert len(old) == 300 and len(old.query("SELECT caption")) == 300


def double_label(sample):
    sample["label"] = sample["label"] * 2
    return sample


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_pytorch_dataloader_workers(client, images, context):
    import torch
    from torch.utils.data import DataLoader

    ds = client.open_table("pics")
    tds = ds.pytorch(transform=double_label)
    assert len(tds) == 300
    copy = pickle.loads(pickle.dumps(tds))
    assert copy[4]["caption"] == "tile 4" and copy[4]["label"] == 8
    loader = DataLoader(tds, batch_size=32, shuffle=True, num_workers=2, multiprocessing_context=context)
    captions, labels = [], []
    for batch in loader:
        assert batch["image"].dtype == torch.uint8 and batch["image"].shape[1:] == (32, 32, 3)
        assert batch["embedding"].shape[1:] == (4,)
        for img, cap in zip(batch["image"], batch["caption"]):
            np.testing.assert_array_equal(img.numpy(), images[int(cap.split()[1])])
        captions += batch["caption"]
        labels += batch["label"].tolist()
    assert sorted(captions) == sorted(f"tile {i}" for i in range(300))
    assert sorted(labels) == sorted(2 * (i % 7) for i in range(300))


def test_pytorch_over_a_view(client, images):
    from torch.utils.data import DataLoader

    want = [i for i in range(300) if i % 7 == 0]
    for sql in ["SELECT image, label WHERE label = 0", "SELECT * WHERE label = 0"]:
        view = client.open_table("pics").query(sql)
        loader = DataLoader(view.pytorch(), batch_size=16, num_workers=2, multiprocessing_context="spawn")
        labels = [int(x) for b in loader for x in b["label"]]
        assert labels == [0] * len(want), sql


def test_whole_row_views_hold_positions(client, images):
    from deeplake.dataset import ResultView, RowsView

    ds = client.open_table("pics")
    view = ds.query("SELECT * WHERE label = $1 ORDER BY caption DESC LIMIT 20", [2])
    assert isinstance(view, RowsView)
    want = sorted((i for i in range(300) if i % 7 == 2), key=lambda i: f"tile {i}", reverse=True)[:20]
    assert view.positions.tolist() == want
    assert view["caption"][:] == [f"tile {i}" for i in want]
    np.testing.assert_array_equal(view[5]["image"], images[want[5]])
    assert [len(b["label"]) for b in view.batches(8, drop_last=True)] == [8, 8]
    assert view.to_arrow().num_rows == 20 and view.to_pandas()["label"].eq(2).all()
    # A view pickles as positions, not images: far smaller than its rows.
    image_bytes = sum(len(b) for b in view.to_arrow()["image"].to_pylist())
    assert len(pickle.dumps(view.pytorch())) < image_bytes / 4

    # The view keeps its version through appends and the dataset's refresh.
    client.ingest("pics", {"image": [png_bytes(images[0])], "label": [2], "caption": ["tile 999"],
                           "embedding": [[0.0] * 4]}, mode="append")
    ds.refresh()
    assert len(view) == 20 and view["caption"][0] == f"tile {want[0]}"
    assert ds.query("SELECT * WHERE label = 2 ORDER BY caption DESC LIMIT 1")["caption"][0] == "tile 999"

    # Queries that compute, aggregate or join hold their result instead.
    counted = ds.query("SELECT label, COUNT(*) AS n GROUP BY label ORDER BY label")
    assert isinstance(counted, ResultView) and counted["n"][:].tolist()[2] == len([i for i in range(300) if i % 7 == 2]) + 1
    assert isinstance(ds.query("SELECT caption WHERE label = 2"), ResultView)


def test_tensorflow(client, images):
    import tensorflow as tf
    ds = client.open_table("pics")
    tf_ds = ds.tensorflow().batch(32).prefetch(tf.data.AUTOTUNE)
    batches = list(tf_ds)
    assert [int(b["label"].shape[0]) for b in batches] == [32] * 9 + [12]
    first = batches[0]
    assert first["image"].dtype == tf.uint8 and tuple(first["image"].shape) == (32, 32, 32, 3)
    np.testing.assert_array_equal(first["image"][5].numpy(), images[5])
    assert first["caption"][1].numpy() == b"tile 1"
    assert first["embedding"].shape == (32, 4)


def test_tensorflow_without_images_crosses_in_batches(client, images):
    import tensorflow as tf
    ds = client.open_table("pics")
    rows = list(ds.tensorflow(columns=["label", "caption", "embedding"]))
    assert len(rows) == 300
    assert rows[0]["label"].dtype == tf.int32 and rows[0]["embedding"].dtype == tf.float32
    assert [int(r["label"]) for r in rows] == [i % 7 for i in range(300)]
    assert [bytes(r["caption"].numpy()) for r in rows] == [f"tile {i}".encode() for i in range(300)]
    np.testing.assert_array_equal(np.stack([r["embedding"].numpy() for r in rows]), ds["embedding"][:])
    # Undecoded images are their encoded bytes.
    encoded = next(iter(ds.tensorflow(columns=["image"], decode_images=False)))["image"]
    np.testing.assert_array_equal(np.array(Image.open(io.BytesIO(encoded.numpy()))), images[0])


def test_tensorflow_nulls(client):
    import tensorflow as tf
    client.ingest("holes", {"n": [1, 2, None, 4], "t": ["a", None, "c", "d"]})
    ds = client.open_table("holes")
    texts = [bytes(x["t"].numpy()) for x in ds.tensorflow(columns=["t"])]
    assert texts == [b"a", b"", b"c", b"d"]
    import tensorflow as tf

    # tf.data carries the generator's ValueError as an InvalidArgumentError.
    with pytest.raises(tf.errors.InvalidArgumentError, match="ValueError: column 'n' is NULL at row 2"):
        list(ds.tensorflow())
    kept = [int(x["n"].numpy()) for x in ds.query("SELECT * WHERE n IS NOT NULL").tensorflow()]
    assert kept == [1, 2, 4]
