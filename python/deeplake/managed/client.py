"""``Client``: ingest, SQL and training access over one workspace.

An ``api_url`` of ``file://PATH`` (or ``DEEPLAKE_API_URL``) runs the engine
in this process over tables under PATH: no server is involved. An
``http(s)://`` api_url is a ``deeplake serve`` (or any server speaking the
same REST API): the same methods then run there.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, Optional

from .. import _native
from ..dataset import Dataset
from .errors import AuthError, IngestError, ManagedServiceError, TableError
from .formats import CocoPanoptic
from .query import ManagedQueryBuilder

__all__ = ["Client"]

Progress = Callable[[int, int], Any]


class Client:
    """A workspace of tables.

    ``Client(token, workspace_id, *, api_url=None)``: the org comes from the
    token's ``OrgID`` claim; ``api_url`` falls back to ``DEEPLAKE_API_URL``.
    ``close()`` (or leaving a ``with Client(...) as c:`` block) releases the
    engine; datasets opened before stay readable.
    """

    def __init__(
        self,
        token: Optional[str] = None,
        workspace_id: Optional[str] = None,
        *,
        api_url: Optional[str] = None,
    ) -> None:
        token = token if token is not None else os.environ.get("DEEPLAKE_API_KEY")
        if not token or not str(token).strip():
            raise AuthError(
                "Token required: pass token= to Client() or set the DEEPLAKE_API_KEY environment variable."
            )
        if workspace_id is None or not str(workspace_id).strip():
            raise ManagedServiceError("workspace_id required")
        self.token = token
        self.workspace_id = str(workspace_id)
        self.api_url = api_url if api_url is not None else os.environ.get("DEEPLAKE_API_URL")
        self._core: Optional[_native.NativeClient] = _native.NativeClient(
            self.token, self.workspace_id, self.api_url
        )
        self._org_id: str = self._core.org_id

    @property
    def _native(self) -> _native.NativeClient:
        core = self._core
        if core is None:
            raise ManagedServiceError("Client is closed: create a new Client to continue.")
        return core

    @property
    def org_id(self) -> str:
        """The org the token names."""
        return self._org_id

    @property
    def closed(self) -> bool:
        return self._core is None

    def close(self) -> None:
        """Releases the engine (its caches and I/O threads). Later calls on
        this client raise ``ManagedServiceError``; closing twice is fine."""
        self._core = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "closed" if self._core is None else f"root={self._core.root_path!r}"
        return f"Client(org_id={self.org_id!r}, workspace_id={self.workspace_id!r}, {where})"

    # -- ingest ---------------------------------------------------------

    def ingest(
        self,
        table_name: str,
        data: Optional[Mapping[str, Any]] = None,
        *,
        format: Any = None,
        schema: Optional[Mapping[str, str]] = None,
        on_progress: Optional[Progress] = None,
        chunk_size: int = 1000,
        chunk_overlap: int = 200,
        pdf_dpi: int = 300,
        mode: str = "create",
        index: Any = None,
    ) -> Dict[str, Any]:
        """Creates ``table_name`` from ``data`` or a ``format`` object.

        ``data`` is a dict of equal-length columns (lists, numpy arrays,
        pyarrow arrays), a pyarrow Table, ``{"_huggingface": name}``, or file
        paths in columns that ``schema`` marks ``"FILE"`` (PDF pages render
        at ``pdf_dpi``). A column ``schema`` marks ``"VIDEO"`` may hold file
        paths: each file's bytes are stored whole. ``on_progress`` is
        called with ``(rows_written, total)``. ``mode`` is ``"create"`` (an
        existing table is a ``TableError``), ``"append"`` or ``"overwrite"``.
        Ctrl-C stops the ingest and raises ``KeyboardInterrupt``; as on any
        failure, a table the call created is dropped.
        ``index`` names columns to index once the rows are in: a list of
        columns (each with its type's default index) or a dict of
        ``{column: index_type}`` or ``{column: {"index_type": ...,
        "dimension": n}}``; it is checked before anything is written.
        Returns ``{"table_name", "row_count", "dataset_path"}``.
        """
        indexes = _index_spec(index)
        result = self._ingest(
            table_name, data, format=format, schema=schema, on_progress=on_progress,
            chunk_size=chunk_size, chunk_overlap=chunk_overlap, pdf_dpi=pdf_dpi, mode=mode,
        )
        for column, options in indexes.items():
            self.create_index(table_name, column, **options)
        return result

    def _ingest(self, table_name, data, *, format, schema, on_progress, chunk_size,
                chunk_overlap, pdf_dpi, mode) -> Dict[str, Any]:
        native = self._native
        hints = _schema(schema)
        common = dict(schema=hints, on_progress=on_progress, mode=mode)
        if format is not None:
            # The exact class: a subclass that overrides normalize() or
            # schema() is driven through those methods like any format.
            if type(format) is CocoPanoptic:
                return native.ingest_format(table_name, format, coco=format._native_args(), **common)
            if not callable(getattr(format, "normalize", None)):
                raise IngestError("format object must have a normalize() method.")
            return native.ingest_format(
                table_name, format, chunk_size=chunk_size, chunk_overlap=chunk_overlap, **common
            )
        if data is None:
            raise IngestError("Either data or format must be provided.")
        data = _as_dict(data)
        if "_huggingface" in data:
            name = data["_huggingface"]
            if not isinstance(name, str):
                raise IngestError(
                    f"_huggingface value must be a string, got {type(name).__name__}."
                )
            # The core checks the other keys (split, config) as for Rust callers.
            return native.ingest(table_name, [(k, [v]) for k, v in data.items()], **common)
        return native.ingest(
            table_name,
            list(data.items()),
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            pdf_dpi=pdf_dpi,
            **common,
        )

    # -- SQL --------------------------------------------------------------

    def query(self, sql: str, params: Any = None, timeout: Optional[float] = 60) -> List[Dict[str, Any]]:
        """Runs SQL with ``$1..$n`` bound to ``params`` (a list or tuple, or
        one bare value for ``$1``): ``list[dict]`` of
        native values (JSON columns as ``Json``, a ``str`` with ``.value``).
        A query still running after ``timeout`` seconds (``None``: no limit)
        is cancelled with a ``TableError``."""
        return self._native.query(sql, _params(params), timeout)

    def query_arrow(self, sql: str, params: Any = None, timeout: Optional[float] = 60):
        """Runs SQL and returns a ``pyarrow.Table``, for large results."""
        import pyarrow as pa

        schema, batches = self._native.query_arrow(sql, _params(params), timeout)
        return pa.Table.from_batches(batches, schema=schema)

    def query_pandas(self, sql: str, params: Any = None, timeout: Optional[float] = 60):
        """Runs SQL and returns a ``pandas.DataFrame``."""
        return self.query_arrow(sql, params, timeout).to_pandas()

    def table(self, table: str) -> ManagedQueryBuilder:
        """The fluent query builder over ``table``."""
        return ManagedQueryBuilder(self, table)

    # -- tables -----------------------------------------------------------

    def list_tables(self) -> List[str]:
        return self._native.list_tables()

    def drop_table(self, table_name: str, if_exists: bool = True) -> None:
        """Drops a table; a missing one is an error only with ``if_exists=False``."""
        self._native.drop_table(table_name, if_exists)

    def create_table(
        self,
        table_name: str,
        schema: Mapping[str, str],
        *,
        index: Any = None,
        if_not_exists: bool = True,
    ) -> Dict[str, Any]:
        """Creates an empty table with ``schema`` (``{column: type}``, spec
        or SQL type names); columns are laid out in name order. An existing
        table is reported (``created: False``) unless ``if_not_exists`` is
        false, when it is a ``TableError``."""
        if not isinstance(schema, Mapping) or not schema:
            raise TableError(
                f"schema must be a non-empty dict of {{column: type}}, got {type(schema).__name__}."
            )
        indexes = _index_spec(index)
        columns = [(str(c), str(schema[c])) for c in sorted(schema)]
        created = True
        try:
            self._native.create_table(table_name, columns)
        except TableError as e:
            if not (if_not_exists and "already exists" in str(e).lower()):
                raise
            created = False
        for column, options in indexes.items():
            self.create_index(table_name, column, **options)
        return {
            "table_name": table_name,
            "created": created,
            "dataset_path": self._native.dataset_path(table_name),
        }

    def describe_table(self, table_name: str) -> Dict[str, Dict[str, Any]]:
        """``{column: {"type": spec type, "sql_type": ..., "index": index
        type or None, "index_params": {...}}}`` in column order. The index's
        parameters are its knobs as its build kept them: ``dimension`` and,
        for a vector index, the ``nprobe`` its searches use unless
        ``SET deeplake.nprobe`` says otherwise."""
        columns, _, _ = self._native.describe_table(table_name)
        return {
            name: {"type": spec, "sql_type": sql, "index": index, "index_params": params}
            for name, spec, sql, index, params in columns
        }

    def create_index(
        self,
        table_name: str,
        column: str,
        index_type: Optional[str] = None,
        dimension: Optional[int] = None,
    ) -> None:
        """Creates a ``deeplake_index`` on ``column`` (named
        ``idx_<table>_<column>``). ``index_type`` is one of
        ``inverted_index``, ``bm25``, ``exact_text``, ``clustered``,
        ``clustered_quantized``, ``pooled_quantized``, ``unique`` (aliases
        ``inverted``, ``exact``, ``quantized``, ``binary_quantized``);
        omitted, the column type's default. An index of the same type is a
        no-op; one of another type is a ``TableError``: drop it first.
        ``dimension`` sizes a clustered index on a ``float4[]`` column."""
        if index_type is not None:
            index_type = _native.canonical_index_type(str(index_type))
        if dimension is not None and (
            isinstance(dimension, bool) or not isinstance(dimension, int) or dimension <= 0
        ):
            raise ValueError(f"dimension must be a positive integer, got {dimension!r}.")
        self._native.create_index(table_name, column, index_type, dimension)

    def drop_index(self, table_name: str, column: str, if_exists: bool = True) -> None:
        """Drops the index on ``column``; a missing one is a ``TableError``
        unless ``if_exists``."""
        self._native.drop_index(table_name, column, bool(if_exists))

    def open_table(self, table_name: str, read_only: bool = False) -> Dataset:
        """The table as a ``Dataset`` for training: rows, column slices,
        batches, PyTorch and TensorFlow adapters. With ``read_only=True``
        the dataset refuses ``append()``."""
        return Dataset._open(self, table_name, read_only=bool(read_only))


def _index_spec(index: Any) -> Dict[str, Dict[str, Any]]:
    """``index=`` as ``{column: create_index keyword arguments}``, checked
    (types included) before anything is written."""
    if index is None:
        return {}
    spec: Dict[str, Dict[str, Any]] = {}
    if isinstance(index, (list, tuple)):
        for col in index:
            if not isinstance(col, str):
                raise ValueError(f"index columns must be strings, got {type(col).__name__}.")
            spec[col] = {}
    elif isinstance(index, Mapping):
        for col, value in index.items():
            if value is None:
                spec[col] = {}
            elif isinstance(value, str):
                spec[col] = {"index_type": _native.canonical_index_type(value)}
            elif isinstance(value, Mapping):
                unknown = sorted(k for k in value if k not in ("index_type", "dimension"))
                if unknown:
                    raise ValueError(
                        f"Unknown index option(s) for column {col!r}: {', '.join(unknown)}. "
                        "Valid options: index_type, dimension."
                    )
                options = dict(value)
                if options.get("index_type") is not None:
                    options["index_type"] = _native.canonical_index_type(str(options["index_type"]))
                spec[col] = options
            else:
                raise ValueError(
                    f"Invalid index spec for column {col!r}: expected str, dict or None, "
                    f"got {type(value).__name__}."
                )
    else:
        raise ValueError(f"index must be a list or dict, got {type(index).__name__}.")
    return spec


def _schema(schema: Optional[Mapping[str, str]]):
    if schema is None:
        return None
    if not isinstance(schema, Mapping):
        raise IngestError(f"schema must be a dict, got {type(schema).__name__}.")
    return [(str(k), str(v)) for k, v in schema.items()]


def _as_dict(data: Any) -> Dict[str, Any]:
    if type(data).__module__.startswith("pyarrow") and hasattr(data, "column_names"):
        table = data
        return {
            name: table.column(name).combine_chunks() for name in table.column_names
        }
    if type(data).__module__.startswith("pandas") and hasattr(data, "columns"):
        return {str(c): data[c].to_numpy() for c in data.columns}
    if not isinstance(data, Mapping):
        raise IngestError(f"data must be a dict, got {type(data).__name__}.")
    if not data:
        raise IngestError("data must not be empty.")
    # A chunked pyarrow column crosses to the core as one array.
    return {k: v.combine_chunks() if hasattr(v, "combine_chunks") else v for k, v in data.items()}


def _params(params: Any) -> Optional[List[Any]]:
    if params is None:
        return None
    if isinstance(params, (list, tuple)):
        return list(params)
    # One bare value (a number, a string, a vector as a numpy array) is the
    # one parameter, not a sequence of them.
    return [params]
