"""The reference client's everyday pieces beyond the spec's tables:
pdf_dpi, query timeouts, read-only datasets, close() and ``with``, the
builder's name, VIDEO columns from file paths, the Hugging Face keys, and
Ctrl-C from a callback (a real Ctrl-C: test_interrupts.py)."""

import os

import numpy as np
import pytest
from PIL import Image

from deeplake import Client
from deeplake.managed import IngestError, ManagedQueryBuilder, ManagedServiceError, QueryBuilder, TableError


def test_pdf_dpi(client, files):
    # asyRefCard.pdf is a US-letter page (8.5 x 11 in): its width in pixels
    # is 8.5 x the DPI, 300 by default as the spec says.
    client.ingest("at300", {"path": [str(files / "document.pdf")]}, schema={"path": "FILE"})
    client.ingest("at72", {"path": [str(files / "document.pdf")]}, schema={"path": "FILE"}, pdf_dpi=72)
    w300 = client.open_table("at300")[0].get("image").shape[1]
    w72 = client.open_table("at72")[0].get("image").shape[1]
    assert abs(w72 * 300 / 72 - w300) <= 5, (w72, w300)
    with pytest.raises(IngestError, match="^pdf_dpi must be between 1 and 2400, got 0.$"):
        client.ingest("bad", {"path": [str(files / "document.pdf")]}, schema={"path": "FILE"}, pdf_dpi=0)
    with pytest.raises(IngestError, match="^pdf_dpi must be between 1 and 2400, got -3.$"):
        client.ingest("bad", {"path": [str(files / "document.pdf")]}, schema={"path": "FILE"}, pdf_dpi=-3)
    assert "bad" not in client.list_tables()


def test_query_timeout(client):
    client.ingest("n", {"n": np.arange(1500, dtype=np.int64)})
    heavy = "SELECT sum(a.n * b.n + c.n) AS s FROM n a, n b, n c"  # 3.4e9 rows
    with pytest.raises(TableError, match="^Query failed: canceling statement due to statement timeout"):
        client.query(heavy, timeout=0.2)
    with pytest.raises(TableError, match="statement timeout"):
        client.query_arrow(heavy, timeout=0.2)
    # The default (60 s) and no limit at all both let a normal query finish.
    assert client.query("SELECT count(*) AS c FROM n")[0]["c"] == 1500
    assert client.query("SELECT max(n) AS m FROM n", timeout=None)[0]["m"] == 1499
    with pytest.raises(TableError, match="timeout must be a positive number of seconds, got 0"):
        client.query("SELECT 1", timeout=0)
    with pytest.raises(TableError, match="timeout must be a positive number of seconds, got -1"):
        client.query("SELECT 1", (), -1)


def test_open_table_read_only(client):
    client.ingest("t", {"n": [1, 2]})
    ds = client.open_table("t")
    assert ds.read_only is False
    assert ds.append({"n": [3]}) == 1 and len(ds) == 3
    ro = client.open_table("t", read_only=True)
    assert ro.read_only is True and len(ro) == 3 and ro[2]["n"] == 3
    with pytest.raises(TableError, match="^Table 't' is open read-only: open it with open_table\\('t', read_only=False\\)"):
        ro.append({"n": [4]})
    assert ro.checkout(ro.versions()[0]).read_only is True
    assert client.query("SELECT sum(n) AS s FROM t")[0]["s"] == 6


def test_close_and_context_manager(workspace, token):
    with Client(token=token, workspace_id="ws") as c:
        c.ingest("t", {"n": [1, 2, 3]})
        ds = c.open_table("t")
        assert not c.closed
    assert c.closed and "closed" in repr(c) and c.org_id == "testorg"
    for call in (lambda: c.query("SELECT 1"), c.list_tables, lambda: c.ingest("u", {"n": [1]}),
                 lambda: c.open_table("t"), lambda: c.table("t")()):
        with pytest.raises(ManagedServiceError, match="^Client is closed"):
            call()
    c.close()  # twice is fine
    # A dataset opened before still reads, and a new client sees the table.
    assert len(ds) == 3 and ds[1]["n"] == 2
    assert Client(token=token, workspace_id="ws").list_tables() == ["t"]


def test_builder_names(client):
    client.ingest("t", {"n": [1, 2, 3]})
    q = client.table("t").where("n > $1", 1)
    assert type(q) is ManagedQueryBuilder and QueryBuilder is ManagedQueryBuilder
    assert repr(q).startswith("ManagedQueryBuilder(") and len(q()) == 2
    from deeplake import managed

    assert "ManagedQueryBuilder" in managed.__all__


def test_video_column_from_file_paths(client, files, tmp_path):
    paths = [str(files / "video1.mp4"), str(files / "video2.mp4")]
    r = client.ingest("clips", {"video": paths, "name": ["one", "two"]}, schema={"video": "VIDEO"})
    assert r["row_count"] == 2
    rows = client.query("SELECT name, video FROM clips ORDER BY name")
    assert [bytes(x["video"]) for x in rows] == [open(p, "rb").read() for p in paths]
    assert client.open_table("clips").schema["video"] == "VIDEO"
    # Bytes are stored as given; a missing file and a number are errors.
    client.ingest("raw", {"video": [b"\x00\x00\x00\x18ftyp"]}, schema={"video": "VIDEO"})
    assert client.query("SELECT video FROM raw")[0]["video"] == b"\x00\x00\x00\x18ftyp"
    missing = str(tmp_path / "gone.mp4")
    with pytest.raises(IngestError, match=f"^File not found: {missing}$"):
        client.ingest("bad", {"video": [missing]}, schema={"video": "VIDEO"})
    with pytest.raises(IngestError, match="^VIDEO column 'video': expected file path or bytes, got int.$"):
        client.ingest("bad", {"video": [7]}, schema={"video": "VIDEO"})
    assert "bad" not in client.list_tables()


def test_huggingface_keys(client):
    with pytest.raises(IngestError, match="^Unexpected key 'colour' next to _huggingface: only 'split' and 'config'"):
        client.ingest("t", {"_huggingface": "cifar10", "colour": "red"})
    with pytest.raises(IngestError, match="^split value must be a string, got int.$"):
        client.ingest("t", {"_huggingface": "cifar10", "split": 3})
    assert client.list_tables() == []


def test_ctrl_c_from_a_callback_raises_keyboard_interrupt(client):
    def interrupt(done, total):
        if done >= 600:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        client.ingest("big", {"n": list(range(5000))}, on_progress=interrupt)
    assert "big" not in client.list_tables()

    class Interrupted:
        def normalize(self):
            yield {"n": list(range(500))}
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        client.ingest("fmt", format=Interrupted())
    assert "fmt" not in client.list_tables()
