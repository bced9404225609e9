"""``Client``: ingest, SQL and training access over one workspace.

An ``api_url`` of ``file://PATH`` (or ``DEEPLAKE_API_URL``) runs the engine
in this process over tables under PATH: no server is involved.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, Optional

from .. import _native
from ..dataset import Dataset
from .errors import AuthError, IngestError, ManagedServiceError
from .formats import CocoPanoptic
from .query import QueryBuilder

__all__ = ["Client"]

Progress = Callable[[int, int], Any]


class Client:
    """A workspace of tables.

    ``Client(token, workspace_id, *, api_url=None)``: the org comes from the
    token's ``OrgID`` claim; ``api_url`` falls back to ``DEEPLAKE_API_URL``.
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
        self._native = _native.NativeClient(self.token, self.workspace_id, self.api_url)

    @property
    def org_id(self) -> str:
        """The org the token names."""
        return self._native.org_id

    def __repr__(self) -> str:
        return f"Client(org_id={self.org_id!r}, workspace_id={self.workspace_id!r}, root={self._native.root_path!r})"

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
        mode: str = "create",
    ) -> Dict[str, Any]:
        """Creates ``table_name`` from ``data`` or a ``format`` object.

        ``data`` is a dict of equal-length columns (lists, numpy arrays,
        pyarrow arrays), a pyarrow Table, ``{"_huggingface": name}``, or file
        paths in columns that ``schema`` marks ``"FILE"``. ``on_progress`` is
        called with ``(rows_written, total)``. ``mode`` is ``"create"`` (an
        existing table is a ``TableError``), ``"append"`` or ``"overwrite"``.
        Returns ``{"table_name", "row_count", "dataset_path"}``.
        """
        hints = _schema(schema)
        common = dict(schema=hints, on_progress=on_progress, mode=mode)
        if format is not None:
            if isinstance(format, CocoPanoptic):
                return self._native.ingest_format(
                    table_name, format, coco=format._paths(), **common
                )
            if not callable(getattr(format, "normalize", None)):
                raise IngestError("format object must have a normalize() method.")
            return self._native.ingest_format(
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
            return self._native.ingest_huggingface(
                table_name, name, data.get("split"), data.get("config"), **common
            )
        return self._native.ingest(
            table_name,
            list(data.items()),
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            **common,
        )

    # -- SQL --------------------------------------------------------------

    def query(self, sql: str, params: Any = None) -> List[Dict[str, Any]]:
        """Runs SQL with ``$1..$n`` bound to ``params`` (a list or tuple, or
        one bare value for ``$1``): ``list[dict]`` of
        native values (JSON columns as ``Json``, a ``str`` with ``.value``)."""
        return self._native.query(sql, _params(params))

    def query_arrow(self, sql: str, params: Any = None):
        """Runs SQL and returns a ``pyarrow.Table``, for large results."""
        import pyarrow as pa

        schema, batches = self._native.query_arrow(sql, _params(params))
        return pa.Table.from_batches(batches, schema=schema)

    def query_pandas(self, sql: str, params: Any = None):
        """Runs SQL and returns a ``pandas.DataFrame``."""
        return self.query_arrow(sql, params).to_pandas()

    def table(self, table: str) -> QueryBuilder:
        """The fluent query builder over ``table``."""
        return QueryBuilder(self, table)

    # -- tables -----------------------------------------------------------

    def list_tables(self) -> List[str]:
        return self._native.list_tables()

    def drop_table(self, table_name: str, if_exists: bool = True) -> None:
        """Drops a table; a missing one is an error only with ``if_exists=False``."""
        self._native.drop_table(table_name, if_exists)

    def open_table(self, table_name: str) -> Dataset:
        """The table as a ``Dataset`` for training: rows, column slices,
        batches, PyTorch and TensorFlow adapters."""
        return Dataset._open(self, table_name)


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
