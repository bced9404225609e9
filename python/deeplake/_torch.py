"""The PyTorch adapter: a map-style dataset that pickles by reference."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

import os

import numpy as np
import torch.utils.data

from .dataset import reopen


class TorchDataset(torch.utils.data.Dataset):
    """Rows as dicts of numpy arrays and Python values, images decoded.

    Pickling keeps only where the rows live, so each ``DataLoader`` worker
    reopens the table (at the same version) in its own process; a forked
    worker reopens too, since the I/O threads of the parent's handle do not
    exist in the child. ``DataLoader``
    asks for a whole batch at once through ``__getitems__``: one native read
    and one decode pass, with the GIL released, per batch.
    """

    def __init__(
        self,
        source: Any,
        columns: Optional[List[str]],
        transform: Optional[Callable[[Dict[str, Any]], Any]],
        decode_images: bool,
    ) -> None:
        self._source = source
        self._columns = columns
        self._transform = transform
        self._decode = decode_images
        self._rows = reopen(source)
        self._pid = os.getpid()
        self._len = len(self._rows)
        if self._len:
            # One read now: what a first read imports and initialises
            # (pyarrow's pandas shim alone is hundreds of modules) is then
            # inherited by forked workers instead of paid by each, every epoch.
            self._rows._columns([0], columns, decode_images=decode_images, stack=False)

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state["_rows"] = None
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _open(self):
        if self._rows is None or self._pid != os.getpid():
            self._rows = reopen(self._source)
            self._pid = os.getpid()
        return self._rows

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> Any:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: List[int]) -> List[Any]:
        rows = self._open()
        n = self._len
        idx = [i + n if i < 0 else i for i in indices]
        if any(not 0 <= i < n for i in idx):
            raise IndexError(f"index out of range for {n} rows")
        got = rows._columns(idx, self._columns, decode_images=self._decode, stack=False)
        columns = [(k, v.tolist() if isinstance(v, np.ndarray) and v.ndim == 1 else v) for k, v in got.items()]
        samples = [{k: v[i] for k, v in columns} for i in range(len(idx))]
        if self._transform is not None:
            samples = [self._transform(s) for s in samples]
        return samples
