"""The Client in remote mode against a real `deeplake serve` on loopback:
the same API as embedded, HTTP failures as the reference's error classes,
and the REST protocol as plain HTTP clients speak it."""

import json
import urllib.error
import urllib.request
import uuid

import numpy as np
import pytest

from conftest import signed_jwt
from deeplake import Client
from deeplake.managed import AuthError, IngestError, ManagedServiceError, TableError, TokenError


def org():
    return "org-" + uuid.uuid4().hex[:10]


@pytest.fixture
def remote(server):
    return Client(token=server.token(org()), workspace_id="ws", api_url=server.url)


def test_columns_query_and_tables(remote):
    assert remote.list_tables() == []
    rng = np.random.default_rng(7)
    emb = rng.normal(size=(5000, 16)).astype(np.float32)
    seen = []
    result = remote.ingest(
        "docs",
        {"text": [f"doc {i}" for i in range(5000)], "embedding": emb, "n": np.arange(5000)},
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert result["row_count"] == 5000
    # The spec's cadence as the caller sees it: progress every 200 rows.
    assert seen[0] == (200, 5000) and seen[-1] == (5000, 5000) and len(seen) == 25
    assert remote.list_tables() == ["docs"]
    with pytest.raises(TableError, match="Table already exists"):
        remote.ingest("docs", {"text": ["x"]})
    remote.ingest("docs", {"text": ["extra"], "n": [5000]}, mode="append")
    q = "{" + ",".join(str(x) for x in emb[42]) + "}"
    rows = remote.query(
        "SELECT n, text, embedding <#> $1::float4[] AS s FROM docs ORDER BY s DESC NULLS LAST LIMIT 3", (q,)
    )
    assert rows[0]["n"] == 42 and abs(rows[0]["s"] - 1.0) < 1e-5
    assert remote.query("SELECT count(*) AS c FROM docs") == [{"c": 5001}]
    built = remote.table("docs").select("n", "text").where("n = $1", 7)()
    assert built == [{"n": 7, "text": "doc 7"}]
    assert len(remote.query_arrow("SELECT * FROM docs WHERE n < 10")) == 10
    desc = remote.describe_table("docs")
    assert list(desc) == ["text", "embedding", "n"]
    assert desc["embedding"]["type"] == "EMBEDDING(16)"
    with pytest.raises(TableError, match="^Query failed: "):
        remote.query("SELEC broken")
    remote.drop_table("docs")
    remote.drop_table("docs")  # if_exists=True by default
    with pytest.raises(TableError, match="does not exist"):
        remote.drop_table("docs", if_exists=False)


def test_create_table_then_insert_and_open(remote):
    out = remote.create_table("items", {"title": "TEXT", "vec": "EMBEDDING(3)", "id": "BIGINT"})
    assert out["created"] is True
    assert remote.create_table("items", {"title": "TEXT"})["created"] is False
    with pytest.raises(TableError, match="already exists"):
        remote.create_table("items", {"title": "TEXT"}, if_not_exists=False)
    # Columns in name order, as the reference lays them out.
    assert list(remote.describe_table("items")) == ["id", "title", "vec"]
    remote.query("INSERT INTO items VALUES (1, 'one', '{1,0,0}'::float4[]), (2, 'two', '{0,1,0}'::float4[])")
    ds = remote.open_table("items")
    assert len(ds) == 2
    batch = next(iter(ds.batches(2)))
    assert batch["vec"].shape == (2, 3)
    assert sorted(batch["title"]) == ["one", "two"]


def test_open_table_reads_through_the_server(server, monkeypatch):
    # A client that cannot (or may not) reach the storage reads the table's
    # files through the server: single rows, batches, DataLoader workers.
    monkeypatch.setenv("DEEPLAKE_DIRECT_READS", "0")
    tok = server.token(org())
    c = Client(token=tok, workspace_id="ws", api_url=server.url)
    n = 3000
    emb = np.random.default_rng(3).normal(size=(n, 8)).astype(np.float32)
    c.ingest("reads", {"id": np.arange(n), "text": [f"t{i}" for i in range(n)], "embedding": emb})
    ds = c.open_table("reads")
    assert len(ds) == n
    assert ds[1234]["text"] == "t1234"
    np.testing.assert_allclose(ds[2999]["embedding"], emb[2999])
    assert sum(len(b["id"]) for b in ds.batches(700)) == n
    from torch.utils.data import DataLoader

    loader = DataLoader(ds.pytorch(columns=["id"]), batch_size=256, num_workers=2)
    assert sorted(int(i) for b in loader for i in b["id"]) == list(range(n))
    # Its indexes are read through the server too: a top-k over the
    # dataset's own engine searches the vector index.
    c.create_index("reads", "embedding")
    ds = c.open_table("reads")
    top = ds.query("SELECT id, embedding <#> $1 AS score ORDER BY score DESC LIMIT 5", [emb[7].tolist()])
    assert int(top.to_pandas()["id"][0]) == 7
    plan = ds.query("EXPLAIN SELECT id, embedding <#> $1 AS score FROM reads ORDER BY score DESC LIMIT 5",
                    [emb[7].tolist()]).to_pandas()
    assert any("index idx_reads_embedding (clustered)" in p for p in plan["plan"]), plan
    # The endpoint serves table files of the caller's workspace, ranges
    # included, and nothing else.
    manifest = "/workspaces/ws/files/reads/_latest"
    req = urllib.request.Request(server.url + manifest, headers={"Authorization": f"Bearer {tok}", "Range": "bytes=0-0"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 206 and r.headers["Content-Range"].startswith("bytes 0-0/")
    for path in ["reads/../../x", "_workspace.json", "reads/secret.txt", "reads/data/..%2F..%2Fx",
                 "reads/index/x", "reads/index/../../x/y"]:
        assert _http(server, "GET", f"/workspaces/ws/files/{path}", tok)[0] in (400, 404), path
    assert _http(server, "GET", manifest, server.token(org()))[0] == 404
    assert _http(server, "GET", manifest, "forged")[0] == 401


def test_http_failures_are_the_reference_classes(server):
    # A forged token is refused by the server: 401 is AuthError.
    forged = signed_jwt({"OrgID": org(), "Exp": 2**31}, secret="not-the-server-secret-0123456789abcdef")
    c = Client(token=forged, workspace_id="ws", api_url=server.url)
    with pytest.raises(AuthError, match="^Unauthorized: invalid or expired token$"):
        c.list_tables()
    with pytest.raises(TokenError, match="expected JWT with 3 parts"):
        Client(token="nope", workspace_id="ws", api_url=server.url)
    # A token without OrgID takes the first org /me lists; a user with no
    # recorded org has none, which is the spec's TokenError.
    lonely = server.token(None, user="u-" + uuid.uuid4().hex[:8])
    with pytest.raises(TokenError, match="Token does not contain org_id"):
        Client(token=lonely, workspace_id="ws", api_url=server.url)
    member = "u-" + uuid.uuid4().hex[:8]
    home = org()
    # The server records a user's org the first time it sees a token with both.
    Client(token=server.token(home, user=member), workspace_id="ws", api_url=server.url).list_tables()
    fallback = Client(token=server.token(None, user=member), workspace_id="ws", api_url=server.url)
    assert fallback.org_id == home
    # Bad input is the server's message, under the class the reference uses.
    good = Client(token=server.token(org()), workspace_id="ws", api_url=server.url)
    with pytest.raises(IngestError, match="data must not be empty"):
        good.ingest("t", {})
    with pytest.raises(ManagedServiceError, match="Invalid workspace_id"):
        Client(token=server.token(org()), workspace_id="../x", api_url=server.url)


def _http(server, method, path, token, body=None):
    req = urllib.request.Request(
        server.url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_the_reference_protocol_over_plain_http(server):
    # What the reference client sends, byte for byte in shape: urllib, JSON
    # bodies, sorted table_schema keys with SQL type names.
    tok = server.token(org())
    schema = {"embedding": "EMBEDDING(4)", "id": "TEXT", "score": "FLOAT8"}
    status, body = _http(server, "POST", "/workspaces/ws/tables", tok,
                         {"table_name": "t", "table_schema": schema})
    assert status == 201, body
    status, body = _http(server, "POST", "/workspaces/ws/tables", tok,
                         {"table_name": "t", "table_schema": schema})
    assert status == 409 and "already exists" in body["error"]
    status, body = _http(server, "POST", "/workspaces/ws/tables/query", tok,
                         {"query": "INSERT INTO t VALUES ('{1,2,3,4}'::float4[], 'a', 0.5)"})
    assert status == 200, body
    status, body = _http(server, "POST", "/workspaces/ws/tables/query", tok,
                         {"query": "SELECT id, embedding, score FROM t WHERE id = $1", "params": ["a"],
                          "timeout_ms": 5000})
    assert (status, body) == (200, {"columns": ["id", "embedding", "score"], "rows": [["a", [1, 2, 3, 4], 0.5]]})
    status, body = _http(server, "GET", "/workspaces/ws/tables", tok)
    assert body == {"tables": [{"table_name": "t"}]}
    status, body = _http(server, "GET", "/workspaces/ws/storage-path", tok)
    assert body["storage_path"].endswith("/ws")
    assert _http(server, "DELETE", "/workspaces/ws/tables/t", tok)[0] == 200
    assert _http(server, "DELETE", "/workspaces/ws/tables/t", tok)[0] == 404


def test_async_client_runs_calls_concurrently(server):
    import asyncio

    from deeplake.managed import AsyncClient

    async def main():
        async with AsyncClient(token=server.token(org()), workspace_id="ws", api_url=server.url) as c:
            await c.ingest("a", {"x": list(range(100))})
            await c.ingest("b", {"x": list(range(50))})
            counts = await asyncio.gather(
                c.query("SELECT count(*) AS n FROM a"),
                c.query("SELECT count(*) AS n FROM b"),
                c.table("a").select("x").where("x < $1", 3).order_by("x").execute(),
            )
            assert counts == [[{"n": 100}], [{"n": 50}], [{"x": 0}, {"x": 1}, {"x": 2}]]
            assert sorted(await c.list_tables()) == ["a", "b"]
            await c.drop_table("a")
            with pytest.raises(TableError, match="does not exist"):
                await c.drop_table("a", if_exists=False)

    asyncio.run(main())


def test_the_package_alone_serves_and_signs(server, tmp_path):
    # Tokens from the package work against `deeplake serve` (same secret)...
    from conftest import SERVER_SECRET
    from deeplake.server import create_token

    tok = create_token(org=org(), user="pkg", jwt_secret=SERVER_SECRET)
    assert Client(token=tok, workspace_id="ws", api_url=server.url).list_tables() == []
    with pytest.raises(ValueError, match="at least 32"):
        create_token(org="x", jwt_secret="short")
    # ...and `python -m deeplake.server` is the same server.
    import os
    import subprocess
    import sys
    import time

    from conftest import free_port, spawn

    port = free_port()
    env = dict(os.environ, DEEPLAKE_JWT_SECRET=SERVER_SECRET, RUST_LOG="warn")
    proc = spawn([sys.executable, "-m", "deeplake.server", "--root", str(tmp_path),
                             "--http", f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=1) as r:
                    assert json.loads(r.read()) == {"status": "ok"}
                break
            except OSError:
                assert time.time() < deadline and proc.poll() is None, "python -m deeplake.server did not start"
                time.sleep(0.2)
        c = Client(token=tok, workspace_id="ws", api_url=url)
        c.ingest("t", {"x": [1, 2, 3]})
        assert c.query("SELECT sum(x) AS s FROM t") == [{"s": 6}]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_an_upload_stopped_by_the_client_commits_nothing_more(remote):
    # A remote ingest is one streamed request the server commits every
    # 2000 rows of; stopping it here breaks the stream off, and the server
    # keeps its whole commits and nothing after them.
    remote.ingest("cut", {"n": np.arange(2000)})

    def stop(done, total):
        if done >= 50_000:
            raise RuntimeError("stop here")

    with pytest.raises(Exception, match="stop here"):
        remote.ingest("cut", {"n": np.arange(200_000)}, mode="append", on_progress=stop)
    n = remote.query("SELECT count(*) AS n FROM cut")[0]["n"]
    assert 2000 <= n <= 52_000 and n % 2000 == 0, n
    ds = remote.open_table("cut")
    assert [ds[i]["n"] for i in (0, 1999)] == [0, 1999]
    # Nothing of the broken upload lands later.
    import time

    time.sleep(0.5)
    assert remote.query("SELECT count(*) AS n FROM cut")[0]["n"] == n

    # An overwrite streams too, and commits once: stopped, it leaves the
    # old rows whole.
    with pytest.raises(Exception, match="stop here"):
        remote.ingest("cut", {"n": np.arange(200_000)}, mode="overwrite", on_progress=stop)
    assert remote.query("SELECT count(*) AS n FROM cut")[0]["n"] == n
    remote.ingest("cut", {"n": np.arange(5000) + 7}, mode="overwrite")
    assert remote.query("SELECT min(n) AS lo, count(*) AS c FROM cut") == [{"lo": 7, "c": 5000}]


def test_a_format_object_and_tensorflow_in_remote_mode(remote):
    # A user's format object streams through the server like columns do,
    # and the remote table feeds TensorFlow as an embedded one does.
    class Squares:
        def schema(self):
            return {"v": "EMBEDDING(2)"}

        def normalize(self):
            for start in range(0, 500, 100):
                ns = list(range(start, start + 100))
                yield {"n": ns, "v": [[float(i), float(i * i)] for i in ns]}

    assert remote.ingest("squares", format=Squares())["row_count"] == 500
    assert remote.describe_table("squares")["v"]["type"] == "EMBEDDING(2)"
    import tensorflow as tf

    batches = list(remote.open_table("squares").tensorflow(columns=["n", "v"]).batch(128))
    assert [int(b["n"].shape[0]) for b in batches] == [128, 128, 128, 116]
    assert batches[1]["v"].dtype == tf.float32
    assert batches[1]["v"][3].numpy().tolist() == [131.0, 131.0**2]
    assert int(batches[3]["n"][-1]) == 499
