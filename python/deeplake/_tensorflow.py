"""The TensorFlow adapter: rows as a ``tf.data.Dataset`` of dicts."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import tensorflow as tf

from .dataset import _base, _scalar


def _spec(type_name: str, decode_images: bool) -> tf.TensorSpec:
    base = _base(type_name)
    scalars = {
        "INT32": tf.int32,
        "INT64": tf.int64,
        "CLASS_LABEL": tf.int32,
        "FLOAT32": tf.float32,
        "FLOAT64": tf.float64,
        "BOOL": tf.bool,
    }
    if base in scalars:
        return tf.TensorSpec(shape=(), dtype=scalars[base])
    if base in ("EMBEDDING", "BOUNDING_BOX", "POINT"):
        width = type_name[len(base) + 1 : -1] if "(" in type_name else ""
        return tf.TensorSpec(shape=(int(width) if width.isdigit() else None,), dtype=tf.float32)
    if base == "EMBEDDING_2D":
        return tf.TensorSpec(shape=(None, None), dtype=tf.float32)
    if base == "IMAGE" and decode_images:
        return tf.TensorSpec(shape=(None, None, None), dtype=tf.uint8)
    return tf.TensorSpec(shape=(), dtype=tf.string)


def make_dataset(rows: Any, columns: Optional[List[str]], decode_images: bool) -> tf.data.Dataset:
    names = columns if columns is not None else rows.columns
    signature: Dict[str, tf.TensorSpec] = {n: _spec(rows.schema[n], decode_images) for n in names}

    def generate():
        start = 0
        for batch in rows.batches(256, columns=names, decode_images=decode_images):
            count = len(batch[names[0]]) if names else 0
            for i in range(count):
                yield {n: _value(batch[n][i], n, start + i, signature[n]) for n in names}
            start += count

    return tf.data.Dataset.from_generator(generate, output_signature=signature)


def _value(v: Any, name: str, row: int, spec: tf.TensorSpec) -> Any:
    """A cell as a tensor value. tf.data has no NULL: a NULL string is
    ``b""``; a NULL number, vector or image stops the iteration with an
    error naming the row, since any stand-in value would be silently wrong."""
    if v is None:
        if spec.dtype == tf.string:
            return b""
        raise ValueError(
            f"column {name!r} is NULL at row {row} and tf.data has no NULL: "
            f"leave those rows out, e.g. ds.query(\"SELECT * WHERE {name} IS NOT NULL\").tensorflow()"
        )
    return _scalar(v)
