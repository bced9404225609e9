"""The TensorFlow adapter: rows as a ``tf.data.Dataset`` of dicts."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import tensorflow as tf

from .dataset import _DECODABLE, _base, _scalar

_BATCH = 256


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
    """Whole batches cross into TensorFlow and are split there (``unbatch``),
    so rows are not paced by Python. Decoded images differ in size from row
    to row, so a dataset with them crosses a row at a time."""
    names = columns if columns is not None else rows.columns
    signature: Dict[str, tf.TensorSpec] = {n: _spec(rows.schema[n], decode_images) for n in names}
    per_row = decode_images and any(_base(rows.schema[n]) in _DECODABLE for n in names)

    def batches():
        start = 0
        for batch in rows.batches(_BATCH, columns=names, decode_images=decode_images):
            count = len(batch[names[0]]) if names else 0
            yield start, count, batch
            start += count

    if per_row:

        def generate_rows():
            for start, count, batch in batches():
                for i in range(count):
                    yield {n: _value(batch[n][i], n, start + i, signature[n]) for n in names}

        return tf.data.Dataset.from_generator(generate_rows, output_signature=signature)

    def generate_batches():
        for start, _, batch in batches():
            yield {n: _column(batch[n], n, start, signature[n]) for n in names}

    batched = {n: tf.TensorSpec(shape=(None, *s.shape), dtype=s.dtype) for n, s in signature.items()}
    return tf.data.Dataset.from_generator(generate_batches, output_signature=batched).unbatch()


def _null(name: str, row: int) -> ValueError:
    return ValueError(
        f"column {name!r} is NULL at row {row} and tf.data has no NULL: "
        f"leave those rows out, e.g. ds.query(\"SELECT * WHERE {name} IS NOT NULL\").tensorflow()"
    )


def _value(v: Any, name: str, row: int, spec: tf.TensorSpec) -> Any:
    """A cell as a tensor value. tf.data has no NULL: a NULL string is
    ``b""``; a NULL number, vector or image stops the iteration with an
    error naming the row, since any stand-in value would be silently wrong."""
    if v is None:
        if spec.dtype == tf.string:
            return b""
        raise _null(name, row)
    return _scalar(v)


def _column(values: Any, name: str, start: int, spec: tf.TensorSpec) -> Any:
    """A batch's column as one array, NULLs handled as in ``_value``."""
    if isinstance(values, np.ndarray) and values.dtype != object:
        return values.astype(spec.dtype.as_numpy_dtype, copy=False)
    cells = [_value(v, name, start + i, spec) for i, v in enumerate(values)]
    if spec.dtype == tf.string:
        return np.array(cells, dtype=object)
    return np.array(cells, dtype=spec.dtype.as_numpy_dtype)
