"""Baseline workloads on the reference `deeplake` package (local file:// datasets).

Run by `deeplake bench` in a virtualenv of its own (the reference installs
under the same module name as ours). Each command prints one JSON object.
"""
import json
import sys
import time

import numpy as np
import deeplake

WORDS = ("data lake table vector search image video text model train query index "
         "column row commit version embedding label stream batch file store").split()


def texts(n, rng, length=200):
    words = rng.integers(0, len(WORDS), size=(n, 48))
    out = []
    for row in words:
        s = " ".join(WORDS[i] for i in row)
        out.append(s[:length])
    return out


def ingest(path, rows, cadence):
    rng = np.random.default_rng(1)
    text = texts(rows, rng)
    emb = rng.standard_normal((rows, 384), dtype=np.float32)
    labels = (np.arange(rows) % 1000).astype(np.int64)
    schema = {"text": deeplake.types.Text(), "embedding": deeplake.types.Embedding(384),
              "label": deeplake.types.Int64()}
    t0 = time.perf_counter()
    ds = deeplake.create("file://" + path, schema=schema)
    if cadence == "sdk":
        # The managed SDK's cadence: append every 200 rows, commit every 2000.
        for s in range(0, rows, 200):
            ds.append({"text": text[s:s + 200], "embedding": emb[s:s + 200], "label": labels[s:s + 200]})
            if (s + 200) % 2000 == 0:
                ds.commit()
    else:
        ds.append({"text": text, "embedding": emb, "label": labels})
    ds.commit()
    dt = time.perf_counter() - t0
    nbytes = sum(len(t) for t in text) + emb.nbytes + labels.nbytes
    return {"rows_per_s": rows / dt, "mb_per_s": nbytes / dt / 1e6, "seconds": dt}


def random_reads(path, rows, size, reads):
    rng = np.random.default_rng(2)
    ds = deeplake.create("file://" + path, schema={"blob": deeplake.types.Bytes()})
    for s in range(0, rows, 100):
        n = min(100, rows - s)
        ds.append({"blob": [rng.bytes(size) for _ in range(n)]})
    ds.commit()
    ds = deeplake.open_read_only("file://" + path)
    idx = rng.integers(0, rows, size=reads)
    col = ds["blob"]
    col[int(idx[0])]
    t0 = time.perf_counter()
    total = 0
    for i in idx:
        total += len(col[int(i)])
    dt = time.perf_counter() - t0
    assert total == reads * size
    return {"us_per_row": dt / reads * 1e6}


def scan(path):
    ds = deeplake.open_read_only("file://" + path)
    col = ds["embedding"]
    n = len(ds)
    for _ in range(2):  # first pass warms the cache, second is timed
        t0 = time.perf_counter()
        total = 0
        acc = 0.0
        for s in range(0, n, 65536):
            block = col[s:s + 65536]
            acc += float(block.sum())
            total += block.nbytes
        dt = time.perf_counter() - t0
    return {"gb_per_s": total / dt / 1e9, "bytes": total}


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "ingest":
        out = ingest(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif cmd == "random":
        out = random_reads(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "scan":
        out = scan(sys.argv[2])
    else:
        raise SystemExit(f"unknown command {cmd}")
    out["version"] = deeplake.__version__
    print(json.dumps(out))
