"""Tables on S3: a real S3-compatible server process (moto) on loopback,
the embedded client with DEEPLAKE_ROOT=s3://..., and several
`deeplake serve` processes sharing one bucket."""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import numpy as np
import pytest

from conftest import Server, free_port, spawn
from deeplake import Client


@pytest.fixture(scope="module")
def s3():
    """moto's S3 server and a fresh bucket; the AWS_* settings that reach it."""
    port = free_port()
    moto = os.path.join(os.path.dirname(sys.executable), "moto_server")
    proc = spawn([moto, "-H", "127.0.0.1", "-p", str(port)],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, keep=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("moto_server did not start within 30 s")
            time.sleep(0.2)
    bucket = "lake-" + uuid.uuid4().hex[:8]
    urllib.request.urlopen(urllib.request.Request(f"{url}/{bucket}", method="PUT"), timeout=10)
    env = {
        "AWS_ENDPOINT": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }
    yield bucket, env
    proc.kill()
    proc.wait()


@pytest.fixture
def s3_env(s3, monkeypatch):
    bucket, env = s3
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return bucket, env


def _objects(bucket, env, prefix):
    """Keys under `prefix` in the bucket, listed through plain S3 calls."""
    import xml.etree.ElementTree as ET

    with urllib.request.urlopen(f"{env['AWS_ENDPOINT']}/{bucket}?list-type=2&prefix={prefix}", timeout=10) as r:
        tree = ET.fromstring(r.read())
    return [e.text for e in tree.iter() if e.tag.endswith("Key")]


def test_embedded_client_on_s3(s3_env, monkeypatch, token):
    bucket, env = s3_env
    prefix = "emb-" + uuid.uuid4().hex[:6]
    monkeypatch.delenv("DEEPLAKE_API_URL", raising=False)
    monkeypatch.setenv("DEEPLAKE_ROOT", f"s3://{bucket}/{prefix}")
    c = Client(token=token, workspace_id="ws")
    emb = np.random.default_rng(1).normal(size=(3000, 8)).astype(np.float32)
    c.ingest("vecs", {"n": np.arange(3000), "embedding": emb})
    c.ingest("vecs", {"n": np.arange(3000, 3100), "embedding": emb[:100]}, mode="append")
    assert c.list_tables() == ["vecs"]
    keys = _objects(bucket, env, prefix)
    assert any("/testorg/ws/vecs/_versions/" in k for k in keys), keys
    q = "{" + ",".join(str(x) for x in emb[5]) + "}"
    top = c.query("SELECT n FROM vecs ORDER BY embedding <#> $1::float4[] DESC LIMIT 1", (q,))
    assert top[0]["n"] in (5, 3005)
    ds = c.open_table("vecs")
    assert len(ds) == 3100
    # Time travel: the version before the append.
    assert len(ds.checkout(ds.version - 1)) == 3000
    assert ds[2999]["n"] == 2999
    # An index on S3: built, caught up by an append, searched.
    c.create_index("vecs", "embedding")
    c.ingest("vecs", {"n": np.arange(3100, 3500), "embedding": emb[100:500]}, mode="append")
    plan = c.query("EXPLAIN SELECT n, embedding <#> $1::float4[] AS s FROM vecs ORDER BY s DESC LIMIT 3", (q,))
    text = " ".join(str(r["plan"]) for r in plan)
    assert "index idx_vecs_embedding (clustered)" in text and ", 0 unindexed" in text, text
    top = c.query("SELECT n, embedding <#> $1::float4[] AS s FROM vecs ORDER BY s DESC LIMIT 2", (q,))
    assert sorted(r["n"] for r in top) == [5, 3005]
    assert any("/testorg/ws/vecs/index/" in k for k in _objects(bucket, env, prefix))
    # A data file over 16 MiB goes up in parts (32 at once); every byte
    # comes back from a random read.
    blobs = [np.random.default_rng(i).bytes(3 << 20) for i in range(8)]
    c.ingest("blobs", {"b": blobs, "i": list(range(8))})
    assert c.open_table("blobs")[5]["b"] == blobs[5]
    assert c.query("SELECT i, b FROM blobs WHERE i = 7") == [{"i": 7, "b": blobs[7]}]
    c.drop_table("blobs")
    c.drop_table("vecs")
    assert c.list_tables() == []
    assert not [k for k in _objects(bucket, env, prefix) if "/vecs/" in k]


def test_two_servers_on_one_bucket_lose_no_commit(s3_env):
    bucket, env = s3_env
    root = f"s3://{bucket}/shared-{uuid.uuid4().hex[:6]}"
    a, b = Server(root, env=env), Server(root, env=env)
    try:
        org = "org-" + uuid.uuid4().hex[:8]
        ca = Client(token=a.token(org), workspace_id="ws", api_url=a.url)
        cb = Client(token=b.token(org), workspace_id="ws", api_url=b.url)
        ca.create_table("events", {"who": "TEXT", "i": "BIGINT"})
        errors = []

        def insert(client, who, n):
            try:
                for i in range(n):
                    client.query(f"INSERT INTO events VALUES ({i}, '{who}')")
            except Exception as e:  # surfaced below
                errors.append(e)

        threads = [threading.Thread(target=insert, args=(c, w, 15)) for c, w in ((ca, "a"), (cb, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not errors, errors
        # Each server sees every commit, its own and the other's.
        for c in (ca, cb):
            rows = c.query("SELECT who, count(*) AS n FROM events GROUP BY who ORDER BY who")
            assert rows == [{"who": "a", "n": 15}, {"who": "b", "n": 15}]
        assert cb.describe_table("events") == ca.describe_table("events")
    finally:
        a.stop()
        b.stop()


def test_a_remote_ingest_on_s3_ends_with_its_files_merged(s3_env):
    # Each 2000-row commit of the streamed upload is an object of its own
    # on S3; the upload ends with the server merging them, as a local
    # ingest does.
    bucket, env = s3_env
    prefix = f"merge-{uuid.uuid4().hex[:6]}"
    srv = Server(f"s3://{bucket}/{prefix}", env=env)
    try:
        org = "org-" + uuid.uuid4().hex[:8]
        c = Client(token=srv.token(org), workspace_id="ws", api_url=srv.url)
        c.ingest("m", {"n": np.arange(7000)})
        table = f"{prefix}/{org}/ws/m"
        data = [k for k in _objects(bucket, env, table) if "/data/" in k]
        assert len(data) == 4 + 1, data  # four commits, one merged file
        import boto3

        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT"], region_name=env["AWS_REGION"],
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        latest = json.loads(s3.get_object(Bucket=bucket, Key=f"{table}/_versions/{6:020}.json")["Body"].read())
        assert latest["operation"] == "compact" and [f["rows"] for f in latest["fragments"]] == [7000]
        ds = c.open_table("m")
        assert len(ds) == 7000 and [ds[i]["n"] for i in (0, 3999, 6999)] == [0, 3999, 6999]
        assert len(ds.checkout(ds.version - 1)) == 7000
    finally:
        srv.stop()


def test_a_killed_server_leaves_only_whole_commits(s3_env):
    bucket, env = s3_env
    root = f"s3://{bucket}/crash-{uuid.uuid4().hex[:6]}"
    server = Server(root, env=env)
    org = "org-" + uuid.uuid4().hex[:8]
    token = server.token(org)
    c = Client(token=token, workspace_id="ws", api_url=server.url)
    c.ingest("big", {"n": np.arange(2000)})
    done = threading.Event()

    def feed():
        try:
            c.ingest("big", {"n": np.arange(1_000_000)}, mode="append")
        except Exception:
            pass
        finally:
            done.set()

    t = threading.Thread(target=feed)
    t.start()
    time.sleep(1.5)
    server.kill()
    t.join(timeout=120)
    assert done.is_set()
    again = Server(root, env=env)
    try:
        c2 = Client(token=token, workspace_id="ws", api_url=again.url)
        n = c2.query("SELECT count(*) AS n FROM big")[0]["n"]
        # Whole commits only: the first ingest's, plus whole 2000-row requests.
        assert n >= 2000 and n % 2000 == 0, n
        assert n < 1_002_000
        assert c2.query("SELECT count(*) AS n FROM big WHERE n IS NULL") == [{"n": 0}]
    finally:
        again.stop()
