"""Indexes from Python, embedded and against a real `deeplake serve`:
create_index / drop_index / describe_table / ingest(index=...) and the
SQL they stand for, on real WordNet glosses and their MiniLM embeddings."""

import json
import os

import numpy as np
import pytest

from deeplake.managed import IngestError, TableError

SHARED = os.environ.get(
    "DEEPLAKE_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
)
ROWS = 3000


@pytest.fixture(params=["embedded", "remote"])
def workspace(request):
    name = "remote_workspace" if request.param == "remote" else "embedded_workspace"
    return request.getfixturevalue(name)


@pytest.fixture
def client(workspace):
    from deeplake import Client

    return Client(token=os.environ["DEEPLAKE_API_KEY"], workspace_id="my-workspace")


@pytest.fixture(scope="module")
def glosses():
    base = os.path.join(SHARED, "wordnet-minilm")
    emb = np.load(os.path.join(base, "definition_emb_f16.npy"), mmap_mode="r")[: ROWS + 50].astype(np.float32)
    texts = []
    with open(os.path.join(base, "synsets.jsonl")) as f:
        for line in f:
            texts.append(json.loads(line)["definition"])
            if len(texts) == ROWS + 50:
                break
    return texts, emb


def test_ingest_with_index_then_search_drop_and_recreate(client, glosses):
    texts, emb = glosses
    client.ingest(
        "docs",
        {"idx": list(range(ROWS)), "text": texts[:ROWS], "embedding": emb[:ROWS]},
        index={"embedding": "clustered"},
    )
    described = client.describe_table("docs")
    assert described["embedding"]["index"] == "clustered"
    assert described["text"]["index"] is None
    # The knobs its build kept: the vectors' size and the nprobe for its
    # partitions (a tenth of round(sqrt(3000)) = 55, raised to the floor, 16).
    assert described["embedding"]["index_params"] == {"dimension": str(emb.shape[1]), "nprobe": "16"}
    assert described["text"]["index_params"] == {}
    rows = client.query("SELECT indexname, tablename FROM pg_indexes")
    assert rows == [{"indexname": "idx_docs_embedding", "tablename": "docs"}]

    q = emb[ROWS + 7]
    exact = np.argsort(-(emb[:ROWS] @ q / np.linalg.norm(emb[:ROWS], axis=1) / np.linalg.norm(q)))[:10]
    client.query("SET deeplake.nprobe = 100000")
    got = client.query(
        "SELECT idx, embedding <#> $1 AS score FROM docs ORDER BY score DESC LIMIT 10", (q.tolist(),)
    )
    client.query("SET deeplake.nprobe = DEFAULT")
    assert [r["idx"] for r in got] == exact.tolist()

    plan = client.query(
        "EXPLAIN SELECT idx FROM docs ORDER BY embedding <#> $1::float4[] DESC LIMIT 5",
        ("{" + ",".join(str(x) for x in q) + "}",),
    )
    assert any("idx_docs_embedding (clustered)" in r["plan"] for r in plan)

    # Same type again: nothing happens; another type: a TableError.
    client.create_index("docs", "embedding", "clustered")
    with pytest.raises(TableError, match="already has a 'clustered' index"):
        client.create_index("docs", "embedding", index_type="quantized")
    with pytest.raises(ValueError, match="Unknown index_type 'ivf'"):
        client.create_index("docs", "embedding", index_type="ivf")
    with pytest.raises(ValueError, match="dimension must be a positive integer"):
        client.create_index("docs", "embedding", dimension=0)
    with pytest.raises(TableError, match="cannot index column 'idx'"):
        client.create_index("docs", "idx", index_type="pooled_quantized")

    client.drop_index("docs", "embedding")
    assert client.describe_table("docs")["embedding"]["index"] is None
    assert client.query("SELECT * FROM pg_indexes") == []
    client.drop_index("docs", "embedding")  # if_exists by default
    with pytest.raises(TableError, match="does not exist"):
        client.drop_index("docs", "embedding", if_exists=False)
    client.create_index("docs", "embedding")
    assert client.describe_table("docs")["embedding"]["index"] == "clustered"


def test_a_bad_index_spec_writes_nothing(client, glosses):
    texts, emb = glosses
    data = {"text": texts[:10], "embedding": emb[:10]}
    for bad, message in [
        ({"embedding": "hnsw"}, "Unknown index_type 'hnsw'"),
        ({"embedding": {"index_type": "clustered", "lists": 4}}, "Unknown index option"),
        ({"embedding": 3}, "Invalid index spec"),
        ("embedding", "index must be a list or dict"),
    ]:
        with pytest.raises(ValueError, match=message):
            client.ingest("never", data, index=bad)
    assert "never" not in client.list_tables()


def test_quantized_and_bm25_indexes_serve_vector_text_and_hybrid_search(client, glosses):
    texts, emb = glosses
    client.ingest(
        "docs",
        {"idx": list(range(ROWS)), "text": texts[:ROWS], "embedding": emb[:ROWS]},
        index={"embedding": "clustered_quantized", "text": "bm25"},
    )
    described = client.describe_table("docs")
    assert described["embedding"]["index"] == "clustered_quantized"
    assert described["text"]["index"] == "bm25"

    # Probing every partition, the byte codes' candidates hold the exact top-10.
    q = emb[ROWS + 3]
    normed = emb[:ROWS] / np.linalg.norm(emb[:ROWS], axis=1, keepdims=True)
    exact = np.argsort(-(normed @ (q / np.linalg.norm(q))))[:10]
    client.query("SET deeplake.nprobe = 100000")
    got = client.query(
        "SELECT idx, embedding <#> $1 AS score FROM docs ORDER BY score DESC LIMIT 10", (q.tolist(),)
    )
    assert [r["idx"] for r in got] == exact.tolist()

    # Hybrid through both indexes is the scan's result (a second order
    # key keeps the scan from the indexes).
    hybrid = (
        "SELECT idx, (embedding, text)::deeplake_hybrid_record <#> "
        "deeplake_hybrid_record($1, $2, 0.5, 0.5) AS score FROM docs ORDER BY {} LIMIT 10"
    )
    params = (q.tolist(), "a small domestic animal")
    indexed = client.query(hybrid.format("score DESC"), params)
    scanned = client.query(hybrid.format("score DESC, idx"), params)
    assert [r["score"] for r in indexed] == [r["score"] for r in scanned]
    assert len(indexed) == 10


def test_lookup_and_unique_indexes_narrow_filters_and_refuse_repeats(client, glosses):
    texts, _ = glosses
    data = {"idx": list(range(ROWS)), "code": [f"c{i:05d}" for i in range(ROWS)], "text": texts[:ROWS]}
    client.ingest("plain", data)
    client.ingest("keyed", data, index={"idx": "unique", "code": "exact_text", "text": "inverted"})
    described = client.describe_table("keyed")
    assert [described[c]["index"] for c in ("idx", "code", "text")] == ["unique", "exact_text", "inverted_index"]
    for where in [
        "idx IN (3, 1500, 2999)",
        "code BETWEEN 'c00100' AND 'c00120'",
        "text @> 'bird' AND idx < 2000",
        "contains(text, 'music') OR code = 'c00042'",
    ]:
        want = client.query(f"SELECT idx FROM plain WHERE {where} ORDER BY idx")
        got = client.query(f"SELECT idx FROM keyed WHERE {where} ORDER BY idx")
        assert got == want and len(want) > 0, where
        plan = client.query(f"EXPLAIN SELECT idx FROM keyed WHERE {where}")
        assert "candidate rows for the WHERE" in str(plan), where

    # Embedded it is an IngestError; a server's 409 reaches a remote client as a TableError.
    with pytest.raises((IngestError, TableError), match=r"Key \(idx\)=\(7\) already exists"):
        client.ingest("keyed", {"idx": [ROWS, 7], "code": ["x", "y"], "text": ["a", "b"]}, mode="append")
    assert client.query("SELECT count(*) AS n FROM keyed") == [{"n": ROWS}]
    with pytest.raises(TableError, match="appears more than once"):
        client.query("INSERT INTO keyed (idx, code) VALUES (5000, 'a'), (5000, 'b')")
    client.ingest("keyed", {"idx": [ROWS, ROWS + 1], "code": ["x", "y"], "text": ["a", "b"]}, mode="append")
    assert client.query("SELECT code FROM keyed WHERE idx = $1", [ROWS + 1]) == [{"code": "y"}]
