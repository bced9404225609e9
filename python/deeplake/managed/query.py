"""The fluent query builder and SQL literal helpers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

if TYPE_CHECKING:
    from .client import Client

__all__ = ["ManagedQueryBuilder", "QueryBuilder", "vector_literal"]


def vector_literal(vec: Sequence[float], cast: str = "FLOAT4[]") -> str:
    """An SQL literal for a vector, ``ARRAY[...]::FLOAT4[]``, to inline in a
    query where a parameter is not wanted. Values are written with ``repr``
    so they round-trip exactly.

    Raises ``ValueError`` for an empty vector or a NaN/Infinity, which have
    no SQL literal form.
    """
    values = [float(x) for x in vec]
    if not values:
        raise ValueError("vector_literal() needs a non-empty vector.")
    for v in values:
        if not math.isfinite(v):
            raise ValueError(
                f"vector_literal() cannot render non-finite value {v}; "
                "NaN and Infinity have no SQL literal form."
            )
    return "ARRAY[" + ",".join(repr(v) for v in values) + "]::" + cast


class ManagedQueryBuilder:
    """A chainable SELECT over one table; nothing runs until ``execute()``
    or ``()``. Each ``where`` numbers its own ``$1..$n`` from 1; the builder
    renumbers them when conditions are combined."""

    def __init__(self, client: "Client", table: str) -> None:
        self._client = client
        self._table = table
        self._columns: Optional[List[str]] = None
        self._conditions: List[Tuple[str, List[Any]]] = []
        self._order: List[str] = []
        self._limit: Optional[int] = None
        self._offset: Optional[int] = None

    def select(self, *columns: str) -> "ManagedQueryBuilder":
        """Result columns or expressions (default ``*``)."""
        self._columns = [str(c) for c in columns] or None
        return self

    def where(self, condition: str, *params: Any) -> "ManagedQueryBuilder":
        """Adds a condition; several are combined with AND."""
        self._conditions.append((condition, list(params)))
        return self

    def order_by(self, clause: str) -> "ManagedQueryBuilder":
        """Adds an ORDER BY clause, e.g. ``"created_at DESC"``."""
        self._order.append(clause)
        return self

    def limit(self, n: int) -> "ManagedQueryBuilder":
        self._limit = _count("limit", n)
        return self

    def offset(self, n: int) -> "ManagedQueryBuilder":
        self._offset = _count("offset", n)
        return self

    def sql(self) -> Tuple[str, List[Any]]:
        """The SQL text and parameters this builder runs."""
        sql, params = self._client._native.select_sql(
            self._table,
            self._columns,
            self._conditions,
            self._order,
            self._limit,
            self._offset,
        )
        return sql, list(params)

    def execute(self) -> List[Dict[str, Any]]:
        """Runs the query: ``list[dict]``."""
        sql, params = self.sql()
        return self._client.query(sql, tuple(params))

    __call__ = execute

    def __repr__(self) -> str:
        try:
            return f"ManagedQueryBuilder({self.sql()[0]!r})"
        except Exception as e:  # a builder error shows instead of the SQL
            return f"ManagedQueryBuilder(<{e}>)"


#: The name the spec's prose uses for the builder.
QueryBuilder = ManagedQueryBuilder


def _count(what: str, n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        from .errors import TableError

        raise TableError(f"{what} must be a non-negative integer, got {n!r}.")
    return n
