"""Training access to a table: ``Dataset`` (a table at one version) and
``View`` (a query's result), with one iteration API.

Reads go through the native core with the GIL released and come back as
Arrow; numeric and embedding columns become numpy arrays without a copy and
text becomes lists of ``str``.

Images (IMAGE columns) are decoded to ``H x W x C`` ``uint8`` arrays by
every read: ``ds[i]["image"]``, ``for row in ds``, ``ds["image"][a:b]``,
``ds[a:b]``, ``batches()``, ``pytorch()`` and ``tensorflow()``. The one flag
``decode_images=False`` gives the stored (encoded) bytes instead; it is a
keyword of ``batches``, ``pytorch``, ``tensorflow``, ``Row.get``,
``Row.get_async``, ``Row.to_dict`` and ``ColumnView.numpy``.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np

# Imported here, not on first use: a DataLoader worker forked from this
# process then inherits it instead of paying the import on its first batch.
import pyarrow as pa

from . import _native

if TYPE_CHECKING:
    from .managed.client import Client

__all__ = ["Dataset", "View", "Row", "ColumnView"]

_NUMERIC = {"INT32", "INT64", "FLOAT32", "FLOAT64", "BOOL", "CLASS_LABEL"}
_VECTORS = ("EMBEDDING", "BOUNDING_BOX", "POINT")
_TEXT = {"TEXT", "JSON"}
_DECODABLE = {"IMAGE"}


def _base(type_name: str) -> str:
    return type_name.split("(", 1)[0]


def _array(col):
    """A pyarrow Array from an Array or ChunkedArray."""
    return col.combine_chunks() if hasattr(col, "combine_chunks") else col


def _decode(array) -> List[Optional[np.ndarray]]:
    out = []
    for item in _native.decode_images(array):
        if item is None:
            out.append(None)
        else:
            pixels, h, w, c = item
            out.append(np.frombuffer(pixels, dtype=np.uint8).reshape(h, w, c))
    return out


def _stack(items: List[Any]) -> Any:
    """Equal-shape arrays become one array; anything else stays a list."""
    if items and all(isinstance(a, np.ndarray) for a in items):
        shape = items[0].shape
        if all(a.shape == shape for a in items):
            return np.stack(items)
    return items


def _convert(col, type_name: str, decode_images: bool, stack: bool = True) -> Any:
    """One column of a record batch as numpy or a list; with ``stack=False``
    decoded images stay a list of arrays (a DataLoader collates them)."""
    arr = _array(col)
    base = _base(type_name)
    if base in _NUMERIC and arr.null_count == 0:
        return arr.to_numpy(zero_copy_only=False)
    if base in _VECTORS or base == "EMBEDDING_2D":
        if pa.types.is_fixed_size_list(arr.type) and arr.null_count == 0:
            width = arr.type.list_size
            return arr.flatten().to_numpy(zero_copy_only=False).reshape(len(arr), width)
        rows = [None if v is None else np.asarray(v, dtype=np.float32) for v in arr.to_pylist()]
        return _stack(rows)
    if base in _DECODABLE and decode_images:
        images = _decode(arr)
        return _stack(images) if stack else images
    return arr.to_pylist()


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class ColumnView:
    """``ds["col"]``: one column, sliced as numpy (``ds["col"][a:b]``)."""

    def __init__(self, rows: "_Rows", name: str) -> None:
        rows._check_columns([name])
        self._rows = rows
        self.name = name

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, key: Union[int, slice, Sequence[int]]) -> Any:
        if isinstance(key, (int, np.integer)):
            return self._rows._cell(self._rows._index(key), self.name)
        idx = self._rows._indices(key)
        return self._rows._columns(idx, [self.name], decode_images=True)[self.name]

    def numpy(self, decode_images: bool = True) -> Any:
        """The whole column."""
        idx = list(range(len(self)))
        return self._rows._columns(idx, [self.name], decode_images=decode_images)[self.name]

    def __repr__(self) -> str:
        return f"ColumnView({self.name!r}, rows={len(self)})"


class Row:
    """``ds[i]``: one row, read a column at a time. ``row["col"]`` reads now;
    ``await row.get_async("col")`` reads on a worker thread, so several
    columns or rows load concurrently (``asyncio.gather``). A row from
    ``for row in ds`` already holds its values, read with its batch."""

    def __init__(self, rows: "_Rows", index: int, values: Optional[Dict[str, Any]] = None) -> None:
        self._rows = rows
        self.index = index
        # Stored (undecoded) cells, when the row came with its batch.
        self._values = values

    def get(self, column: str, decode_images: bool = True) -> Any:
        """The value of ``column``; images decoded unless ``decode_images=False``."""
        if self._values is None:
            return self._rows._cell(self.index, column, decode_images)
        if column not in self._values:
            self._rows._check_columns([column])
        value = self._values[column]
        if decode_images and value is not None and _base(self._rows._types.get(column, "")) in _DECODABLE:
            return _decode(pa.array([value], type=pa.binary()))[0]
        return value

    def __getitem__(self, column: str) -> Any:
        return self.get(column)

    async def get_async(self, column: str, decode_images: bool = True) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.get, column, decode_images)

    def keys(self) -> List[str]:
        return self._rows.columns

    def to_dict(self, decode_images: bool = True) -> Dict[str, Any]:
        if self._values is not None:
            return {k: self.get(k, decode_images) for k in self._values}
        got = self._rows._columns([self.index], None, decode_images=decode_images)
        return {k: _scalar(v[0]) for k, v in got.items()}

    def __repr__(self) -> str:
        return f"Row({self.index})"


class _Rows:
    """The iteration API shared by datasets and views."""

    _types: Dict[str, str]

    # Provided by subclasses.
    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _take(self, rows: List[int], columns: Optional[List[str]]):  # -> pyarrow batch or table
        raise NotImplementedError

    def _record_batches(self, size: int, drop_last: bool, columns: Optional[List[str]]) -> Iterator[Any]:
        raise NotImplementedError

    def _source(self) -> Any:
        """What a worker process needs to reopen these rows."""
        raise NotImplementedError

    # Shared.
    @property
    def columns(self) -> List[str]:
        return list(self._types)

    @property
    def schema(self) -> Dict[str, str]:
        """Column name → type name (``TEXT``, ``EMBEDDING(384)``, ``IMAGE``...)."""
        return dict(self._types)

    def _check_columns(self, columns: Optional[Sequence[str]]) -> Optional[List[str]]:
        if columns is None:
            return None
        from .managed.errors import TableError

        cols = [columns] if isinstance(columns, str) else list(columns)
        for c in cols:
            if c not in self._types:
                raise TableError(f"Column '{c}' does not exist; columns: {', '.join(self._types)}")
        return cols

    def _index(self, i: int) -> int:
        n = len(self)
        j = int(i) + n if i < 0 else int(i)
        if not 0 <= j < n:
            raise IndexError(f"row {i} out of range for {n} rows")
        return j

    def _indices(self, key: Any) -> List[int]:
        """Row positions for a slice, a sequence of (negative) ints, or a
        boolean mask as long as the rows."""
        if isinstance(key, slice):
            return list(range(*key.indices(len(self))))
        if isinstance(key, (str, bytes)) or not hasattr(key, "__len__"):
            raise TypeError(
                f"rows are indexed by an int, a slice, a list of ints or a boolean mask, not {type(key).__name__}"
            )
        arr = np.asarray(key)
        if arr.dtype == np.bool_:
            if arr.shape != (len(self),):
                raise IndexError(f"a boolean mask needs {len(self)} entries, got shape {arr.shape}")
            return np.flatnonzero(arr).tolist()
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"row indices must be ints, got {arr.dtype}")
        return [self._index(i) for i in arr.reshape(-1).tolist()]

    def _columns(
        self, rows: List[int], columns: Optional[List[str]], decode_images: bool, stack: bool = True
    ) -> Dict[str, Any]:
        batch = self._take(rows, columns)
        return self._batch_dict(batch, decode_images, stack)

    def _cell(self, row: int, column: str, decode_images: bool = True) -> Any:
        """One value (images decoded unless asked not to), numpy scalars as
        Python numbers; an unknown column is a ``TableError``."""
        got = self._columns([row], self._check_columns([column]), decode_images)
        return _scalar(got[column][0])

    def _batch_dict(self, batch, decode_images: bool, stack: bool = True) -> Dict[str, Any]:
        return {
            name: _convert(batch.column(i), self._types.get(name, ""), decode_images, stack)
            for i, name in enumerate(batch.schema.names)
        }

    def __getitem__(self, key: Union[int, str, slice, Sequence[int]]) -> Any:
        """``ds["col"]`` a column; ``ds[i]`` a row; ``ds[a:b]``, ``ds[[i, j]]``
        or ``ds[mask]`` those rows as a dict of columns."""
        if isinstance(key, str):
            return ColumnView(self, key)
        if isinstance(key, (int, np.integer)):
            return Row(self, self._index(key))
        return self._columns(self._indices(key), None, decode_images=True)

    def __iter__(self) -> Iterator[Row]:
        """``Row`` objects in order, read 100 rows at a time; a row's images
        are decoded when its value is asked for."""
        start = 0
        for batch in self.batches(100, decode_images=False):
            n = len(next(iter(batch.values()))) if batch else 0
            for i in range(n):
                yield Row(self, start + i, {k: _scalar(v[i]) for k, v in batch.items()})
            start += n

    def batches(
        self,
        batch_size: int = 100,
        drop_last: bool = False,
        *,
        columns: Optional[Sequence[str]] = None,
        decode_images: bool = True,
    ) -> Iterator[Dict[str, Any]]:
        """Batches of ``batch_size`` rows in order: numeric and embedding
        columns as numpy arrays shaped ``(n, ...)``, text as lists, images as
        ``H x W x C`` uint8 arrays (stacked when they share a shape) or, with
        ``decode_images=False``, their stored bytes."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        cols = self._check_columns(columns)
        for batch in self._record_batches(batch_size, drop_last, cols):
            yield self._batch_dict(batch, decode_images)

    def pytorch(
        self,
        transform: Optional[Callable[[Dict[str, Any]], Any]] = None,
        *,
        columns: Optional[Sequence[str]] = None,
        decode_images: bool = True,
    ):
        """A map-style ``torch.utils.data.Dataset``. It pickles by reference
        (workspace, table, version), so ``DataLoader(num_workers>0)`` reopens
        the table in each worker; batches are read with one call per batch."""
        from ._torch import TorchDataset

        return TorchDataset(self._source(), self._check_columns(columns), transform, decode_images)

    def tensorflow(self, *, columns: Optional[Sequence[str]] = None, decode_images: bool = True):
        """A ``tf.data.Dataset`` of dicts, one element per row."""
        from ._tensorflow import make_dataset

        return make_dataset(self, self._check_columns(columns), decode_images)

    def to_arrow(self):
        """Every row as a ``pyarrow.Table``."""
        batches = list(self._record_batches(65536, False, None))
        if not batches:
            return pa.Table.from_batches([], schema=self._take([], None).schema)
        return pa.Table.from_batches(batches)

    def to_pandas(self):
        """Every row as a ``pandas.DataFrame`` (JSON as text, blobs as bytes)."""
        return self.to_arrow().to_pandas()

    def _describe(self) -> List[str]:
        width = max([len(c) for c in self._types] + [6])
        lines = [f"{'column':<{width}}  type"]
        lines += [f"{c:<{width}}  {t}" for c, t in self._types.items()]
        return lines

    def _title(self) -> str:
        raise NotImplementedError

    def summary(self) -> None:
        """Prints what the rows are, how many, and their columns with types."""
        print(f"{self._title()}: {len(self)} rows")
        print("\n".join(self._describe()))


def _strip_strings(sql: str) -> str:
    """The SQL with quoted strings and identifiers blanked out, same length."""
    return re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", lambda m: " " * len(m.group()), sql)


def _with_from(sql: str, table: str) -> str:
    q = sql.strip().rstrip(";")
    bare = _strip_strings(q)
    if re.search(r"\bfrom\b", bare, re.I):
        return q
    m = re.search(r"\b(where|group\s+by|order\s+by|limit|offset)\b", bare, re.I)
    source = ' FROM "' + table.replace('"', '""') + '" '
    return q[: m.start()] + source + q[m.start():] if m else q + source


class Dataset(_Rows):
    """A table opened for training, at one committed version; ``refresh()``
    moves to the newest."""

    def __init__(self, client: "Client", name: str, native: Any, read_only: bool = False) -> None:
        self._client = client
        self._name = name
        self._native = native
        self._read_only = read_only
        self._types = dict(native.schema())

    @classmethod
    def _open(cls, client: "Client", name: str, read_only: bool = False) -> "Dataset":
        return cls(client, name, client._native.open_table(name), read_only)

    @property
    def name(self) -> str:
        return self._name

    @property
    def read_only(self) -> bool:
        """True when opened with ``open_table(name, read_only=True)``."""
        return self._read_only

    def append(self, data: Any, *, schema: Optional[Dict[str, str]] = None) -> int:
        """Appends rows (a dict of columns, as ``Client.ingest`` takes) as one
        commit and moves this dataset to the new version; returns the number
        of rows written."""
        from .managed.errors import TableError

        if self._read_only:
            raise TableError(
                f"Table '{self._name}' is open read-only: open it with "
                f"open_table({self._name!r}, read_only=False) to append."
            )
        written = self._client.ingest(self._name, data, schema=schema, mode="append")["row_count"]
        self.refresh()
        return written

    @property
    def version(self) -> int:
        return self._native.version

    def __len__(self) -> int:
        return len(self._native)

    def __repr__(self) -> str:
        return f"Dataset({self._name!r}, version={self.version}, rows={len(self)}, columns={self.columns})"

    def refresh(self) -> bool:
        """Sees commits made since opening; True when the version changed."""
        changed = self._native.refresh()
        self._types = dict(self._native.schema())
        return changed

    def versions(self) -> List[int]:
        return self._native.versions()

    def checkout(self, version: int) -> "Dataset":
        """The same table as of an earlier committed version."""
        return Dataset(self._client, self._name, self._native.checkout(version), self._read_only)

    def _title(self) -> str:
        return f"Dataset {self._name!r}: version {self.version}"

    def _take(self, rows, columns):
        return self._native.take(list(rows), columns)

    def _record_batches(self, size, drop_last, columns):
        return self._native.batches(size, drop_last, columns)

    def _source(self):
        c = self._client
        return ("table", c.token, c.workspace_id, c.api_url, self._name, self.version)

    def query(self, sql: str, params: Any = None) -> "View":
        """A view from SQL over this table at this dataset's version; ``FROM``
        may be left out: ``ds.query("SELECT * WHERE label = $1", ["cat"])``.

        A whole-row selection (``SELECT * [WHERE] [ORDER BY] [LIMIT]``)
        keeps only the positions of the rows it picked and reads them when
        used; any other query keeps its result."""
        from .managed.client import _params

        sql, args = _with_from(sql, self._name), _params(params)
        positions = self._native.row_positions(sql, args)
        if positions is not None:
            return RowsView(self, positions.to_numpy())
        schema, batches = self._native.query_arrow(sql, args)
        return ResultView(pa.Table.from_batches(batches, schema=schema), self._types, self._name)


class View(_Rows):
    """Rows a query picked, with the dataset iteration API."""

    _name: str

    def __repr__(self) -> str:
        return f"View(of={self._name!r}, rows={len(self)}, columns={self.columns})"

    def _title(self) -> str:
        return f"View of {self._name!r}"

    def query(self, sql: str, params: Any = None) -> "View":
        """Views are not queried again: a ``TableError`` says what to do."""
        from .managed.errors import TableError

        raise TableError(
            "A view cannot be queried: query the dataset once with every condition, "
            "ds.query(\"SELECT * WHERE <this view's condition> AND <the new one>\"), "
            "or filter the view's rows in pandas (view.to_pandas())."
        )

    def _spans(self, size: int, drop_last: bool) -> Iterator[slice]:
        """The row ranges of ``batches(size, drop_last)``, in order."""
        n = len(self)
        for start in range(0, n, size):
            if drop_last and start + size > n:
                break
            yield slice(start, start + size)


class RowsView(View):
    """The rows of a dataset (at its version) a ``SELECT *`` picked, held as
    their positions and read when used, so a filtered view of a large table
    costs 8 bytes a row and pickles small for DataLoader workers."""

    def __init__(self, dataset: Dataset, positions: np.ndarray) -> None:
        self._client = dataset._client
        self._native = dataset._native.snapshot()
        self._name = dataset.name
        self._types = dataset._types
        self._positions = positions

    def __len__(self) -> int:
        return len(self._positions)

    @property
    def positions(self) -> np.ndarray:
        """The picked rows' positions in the dataset, in the view's order."""
        return self._positions

    def _take(self, rows, columns):
        return self._native.take(self._positions[np.asarray(rows, dtype=np.int64)].tolist(), columns)

    def _record_batches(self, size, drop_last, columns):
        for span in self._spans(size, drop_last):
            yield self._native.take(self._positions[span].tolist(), columns)

    def _source(self):
        c = self._client
        return ("rows", c.token, c.workspace_id, c.api_url, self._name, self._native.version, self._positions)


class ResultView(View):
    """A query's result held whole (for queries that compute columns,
    aggregate or join)."""

    def __init__(self, table: Any, types: Dict[str, str], source: str = "") -> None:
        self._table = table
        self._name = source
        self._types = {name: types.get(name, _infer(table.schema.field(name).type)) for name in table.column_names}

    def __len__(self) -> int:
        return self._table.num_rows

    def _take(self, rows, columns):
        t = self._table if columns is None else self._table.select(columns)
        return t.take(pa.array(rows, type=pa.int64()))

    def _record_batches(self, size, drop_last, columns):
        t = self._table if columns is None else self._table.select(columns)
        for span in self._spans(size, drop_last):
            yield t.slice(span.start, size)

    def to_arrow(self):
        return self._table

    def _source(self):
        return ("result", self._table, self._types, self._name)


def _infer(arrow_type) -> str:
    if pa.types.is_boolean(arrow_type):
        return "BOOL"
    if pa.types.is_integer(arrow_type):
        return "INT64"
    if pa.types.is_floating(arrow_type):
        return "FLOAT64"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "TEXT"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return "BINARY"
    if pa.types.is_fixed_size_list(arrow_type) or pa.types.is_list(arrow_type):
        return "EMBEDDING"
    return str(arrow_type)


def reopen(source: Any) -> _Rows:
    """Rebuilds rows from ``_source()`` in another process."""
    kind = source[0]
    if kind in ("table", "rows"):
        from .managed.client import Client

        _, token, workspace, api_url, name, version = source[:6]
        ds = Client(token, workspace, api_url=api_url).open_table(name)
        ds = ds if ds.version == version else ds.checkout(version)
        return ds if kind == "table" else RowsView(ds, source[6])
    _, table, types, name = source
    return ResultView(table, types, name)
