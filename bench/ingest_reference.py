"""The reference package's own file normalizers, timed on the same files as
`deeplake bench --only pdf,video,text,hf`. Runs in .venv-reference (the
reference `deeplake` with its optional PyMuPDF and datasets).

usage:
  ingest_reference.py files PATH...      time Client._normalize_files (4 threads,
                                         PDFs at 300 DPI, ffmpeg per segment)
  ingest_reference.py hf DIR             time Client._normalize_huggingface on a
                                         folder of parquet shards
  ingest_reference.py make-hf SYNSETS EMB OUT ROWS
                                         write ROWS WordNet rows (text, label,
                                         embedding) as parquet shards with datasets
Prints one JSON line: {"seconds": ..., "rows": ...}.
"""
import json
import sys
import time

from deeplake.managed.client import Client


def normalizer():
    # The normalizers are pure transforms; no server connection is needed.
    return object.__new__(Client)


def rows_of(batches):
    n = 0
    for b in batches:
        n += len(next(iter(b.values())))
    return n


def main():
    cmd = sys.argv[1]
    if cmd == "files":
        c = normalizer()
        t = time.perf_counter()
        rows = rows_of(c._normalize_files(sys.argv[2:], 1000, 200, pdf_dpi=300))
        print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows}))
    elif cmd == "hf":
        c = normalizer()
        t = time.perf_counter()
        rows = rows_of(c._normalize_huggingface(sys.argv[2]))
        print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows}))
    elif cmd == "make-hf":
        import os
        import numpy as np
        from datasets import ClassLabel, Dataset, Features, List, Value

        synsets, emb, out, n = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
        texts, labels = [], []
        with open(synsets) as f:
            for line in f:
                s = json.loads(line)
                texts.append(s["definition"])
                labels.append("nvars".index(s["pos"]) if s["pos"] in "nvars" else 0)
                if len(texts) == n:
                    break
        vectors = np.load(emb)[: len(texts)].astype("float32")
        features = Features({
            "text": Value("string"),
            "label": ClassLabel(names=["noun", "verb", "adjective", "satellite", "adverb"]),
            "embedding": List(Value("float32")),
        })
        ds = Dataset.from_dict(
            {"text": texts, "label": labels, "embedding": [v.tolist() for v in vectors]},
            features=features,
        )
        os.makedirs(out, exist_ok=True)
        shards = 4
        for i in range(shards):
            ds.shard(shards, i, contiguous=True).to_parquet(
                os.path.join(out, f"train-{i:05d}-of-{shards:05d}.parquet")
            )
        print(json.dumps({"rows": len(ds)}))
    else:
        sys.exit(f"unknown command {cmd}")


main()
