"""Writes a small dataset with the real `datasets` library in every layout
the Hugging Face ingest reads: a save_to_disk folder, hub-style parquet
shards (for the hub cache and the loopback hub), and the builder cache.

usage: hf_datasets.py OUT_DIR REPO_ID
"""
import json
import os
import sys

import datasets
from datasets.packaged_modules.parquet.parquet import Parquet
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, List, Value
import skimage

out, repo_id = sys.argv[1], sys.argv[2]
data_dir = os.path.dirname(skimage.data.__file__)
photos = ["camera.png", "coins.png", "astronaut.png", "rocket.jpg", "coffee.png"]
features = Features({
    "text": Value("string"),
    "label": ClassLabel(names=["grey", "colour"]),
    "embedding": List(Value("float32")),
    "image": Image(),
    "n": Value("int32"),
    "meta": {"source": Value("string"), "tags": List(Value("string"))},
})
rows = {
    "text": [f"photo {p}" for p in photos],
    "label": [0, 0, 1, 1, 1],
    "embedding": [[i / 10, 1 - i / 10, 0.5] for i in range(len(photos))],
    "image": [os.path.join(data_dir, p) for p in photos],
    "n": list(range(len(photos))),
    "meta": [{"source": "scikit-image", "tags": [p.split(".")[1]]} for p in photos],
}
train = Dataset.from_dict(rows, features=features)
test = train.select([4])
DatasetDict({"train": train, "test": test}).save_to_disk(os.path.join(out, "saved"))

# A folder of parquet written straight from the dataset: images are kept as
# paths to the photos, not bytes.
os.makedirs(os.path.join(out, "paths"), exist_ok=True)
train.to_parquet(os.path.join(out, "paths", "train.parquet"))

# Hub shards carry the image bytes, as push_to_hub writes them.
embedded = train.cast_column("image", Image(decode=False)).map(
    lambda r: {"image": {"bytes": open(r["image"]["path"], "rb").read(), "path": None}}
).cast_column("image", Image())
train, test = embedded, embedded.select([4])
repo = os.path.join(out, "repo")
os.makedirs(os.path.join(repo, "data"), exist_ok=True)
train.shard(2, 0, contiguous=True).to_parquet(os.path.join(repo, "data", "train-00000-of-00002.parquet"))
train.shard(2, 1, contiguous=True).to_parquet(os.path.join(repo, "data", "train-00001-of-00002.parquet"))
test.to_parquet(os.path.join(repo, "data", "test-00000-of-00001.parquet"))

# The builder cache, as `load_dataset` leaves it for a hub dataset: built
# from the same shards, then named `<org>___<name>` as for a hub repository
# (the builder refuses local files under a hub repo_id).
files = {s: sorted("data/" + f for f in os.listdir(os.path.join(repo, "data")) if f.startswith(s + "-"))
         for s in ("train", "test")}
builder = Parquet(
    cache_dir=os.path.join(out, "builder"),
    dataset_name=repo_id.split("/")[-1],
    base_path=repo,
    data_files=files,
    hash="0123456789abcdef",
)
builder.download_and_prepare()
short = os.path.join(out, "builder", repo_id.split("/")[-1])
os.rename(short, os.path.join(out, "builder", repo_id.replace("/", "___")))
print(json.dumps({"datasets": datasets.__version__, "train_rows": len(train)}))
# Everything is written: leave without the interpreter's teardown, in which
# the libraries' worker threads have been seen to abort the process after
# the work was done.
sys.stdout.flush()
os._exit(0)
