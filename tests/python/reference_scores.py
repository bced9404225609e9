"""Scores from independent implementations, for the engine's search tests.

Reads a JSON request on stdin and writes JSON on stdout:
- bm25: bm25s (method="lucene", k1=1.2, b=0.75) over `corpus` tokenized as
  re.findall(r"\\w+", text.lower()); the nonzero scores per query.
- cosine: numpy float64 cosine of each query against every `vectors` row
  (a list of rows or the path of a .npy file).
- maxsim: numpy MaxSim (sum over query vectors of the best cosine).
"""
import json
import re
import sys

import bm25s
import numpy as np


def tokenize(text):
    return re.findall(r"\w+", text.lower())


def bm25(corpus, queries):
    model = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    model.index([tokenize(t) for t in corpus], show_progress=False)
    out = []
    for q in queries:
        scores = model.get_scores(tokenize(q))
        nz = np.nonzero(scores)[0]
        out.append([[int(i), float(scores[i])] for i in nz])
    return out


def unit(m):
    m = np.asarray(m, dtype=np.float64)
    n = np.linalg.norm(m, axis=-1, keepdims=True)
    return np.divide(m, n, out=np.zeros_like(m), where=n > 0)


def cosine(vectors, queries):
    if isinstance(vectors, str):
        vectors = np.load(vectors).astype(np.float32)
    v = unit(np.asarray(vectors, dtype=np.float32))
    return [(v @ unit(q)).tolist() for q in queries]


def maxsim(docs, queries):
    out = []
    for q in queries:
        qu = unit(q)
        out.append([float((qu @ unit(d).T).max(axis=1).sum()) for d in docs])
    return out


def main():
    req = json.load(sys.stdin)
    res = {}
    if "bm25" in req:
        res["bm25"] = bm25(req["bm25"]["corpus"], req["bm25"]["queries"])
    if "cosine" in req:
        res["cosine"] = cosine(req["cosine"]["vectors"], req["cosine"]["queries"])
    if "maxsim" in req:
        res["maxsim"] = maxsim(req["maxsim"]["docs"], req["maxsim"]["queries"])
    json.dump(res, sys.stdout)


if __name__ == "__main__":
    main()
