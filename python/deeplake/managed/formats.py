"""Format objects: sources that drive ``Client.ingest(table, format=...)``.

Any object with a ``normalize()`` method that yields ``dict[str, list]``
batches is a format; ``schema()`` may declare column types. ``Format`` is an
optional base class that documents the protocol.
"""

from __future__ import annotations

import os
from typing import Dict, Iterator, List, Tuple, Union

__all__ = ["Format", "CocoPanoptic"]

PathLike = Union[str, "os.PathLike[str]"]


class Format:
    """Base class of custom formats.

    ``normalize()`` yields batches: dicts mapping column names to equal-length
    lists, with the same columns in every batch. Batches are pulled one at a
    time while the table is written, so a large source never sits in memory.
    ``schema()`` returns type hints such as ``{"image": "IMAGE"}``; a schema
    passed to ``ingest()`` wins over them. An exception raised here ends the
    ingest with an ``IngestError`` whose ``__cause__`` is that exception.
    """

    def schema(self) -> Dict[str, str]:
        return {}

    def normalize(self) -> Iterator[Dict[str, List]]:
        raise NotImplementedError("a Format subclass must implement normalize()")


class CocoPanoptic(Format):
    """A COCO panoptic dataset: images, panoptic PNG masks and the
    annotation JSON. One row per annotated image with the columns image_id,
    image (IMAGE), mask (SEGMENT_MASK), width, height, filename,
    segments_info (JSON) and categories (JSON: the categories the image's
    segments use). An image whose image or mask file is missing is skipped.

    ``normalize()`` yields ``batch_size`` rows a batch as ``dict[str, list]``
    (JSON columns as JSON text), so the object works wherever a format
    does. ``Client.ingest`` reads this class natively; a subclass that
    overrides ``normalize()`` or ``schema()`` is driven through them.
    """

    def __init__(
        self,
        images_dir: PathLike,
        masks_dir: PathLike,
        annotations: PathLike,
        *,
        batch_size: int = 100,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            from .errors import IngestError

            raise IngestError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self.images_dir = os.fspath(images_dir)
        self.masks_dir = os.fspath(masks_dir)
        self.annotations = os.fspath(annotations)
        self.batch_size = batch_size

    def _native_args(self) -> Tuple[str, str, str, int]:
        return (self.images_dir, self.masks_dir, self.annotations, self.batch_size)

    def schema(self) -> Dict[str, str]:
        return {"image": "IMAGE", "mask": "SEGMENT_MASK", "segments_info": "JSON", "categories": "JSON"}

    def normalize(self) -> Iterator[Dict[str, List]]:
        from .. import _native

        return iter(_native.NativeCocoBatches(*self._native_args()))

    def __repr__(self) -> str:
        return (
            f"CocoPanoptic(images_dir={self.images_dir!r}, masks_dir={self.masks_dir!r}, "
            f"annotations={self.annotations!r}, batch_size={self.batch_size})"
        )
