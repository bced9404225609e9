"""``AsyncClient``: the ``Client`` API as coroutines.

Each call runs the blocking client on a worker thread (the Rust core
releases the GIL for all of its work), so an event loop stays responsive
and several calls run at once.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional

from .client import Client
from .query import ManagedQueryBuilder

__all__ = ["AsyncClient", "AsyncManagedQueryBuilder"]


class AsyncClient:
    """``AsyncClient(token, workspace_id, *, api_url=None)``: the same
    arguments and errors as ``Client``; every method is awaited."""

    def __init__(self, token: Optional[str] = None, workspace_id: Optional[str] = None, *,
                 api_url: Optional[str] = None) -> None:
        self._client = Client(token, workspace_id, api_url=api_url)

    @property
    def org_id(self) -> str:
        return self._client.org_id

    @property
    def workspace_id(self) -> str:
        return self._client.workspace_id

    async def _run(self, fn, *args, **kwargs):
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def ingest(self, table_name: str, data: Any = None, **kwargs: Any) -> Dict[str, Any]:
        return await self._run(self._client.ingest, table_name, data, **kwargs)

    async def query(self, sql: str, params: Any = None, timeout: Optional[float] = 60) -> List[Dict[str, Any]]:
        return await self._run(self._client.query, sql, params, timeout)

    async def list_tables(self) -> List[str]:
        return await self._run(self._client.list_tables)

    async def drop_table(self, table_name: str, if_exists: bool = True) -> None:
        await self._run(self._client.drop_table, table_name, if_exists)

    async def create_table(self, table_name: str, schema: Dict[str, str], **kwargs: Any) -> Dict[str, Any]:
        return await self._run(self._client.create_table, table_name, schema, **kwargs)

    async def describe_table(self, table_name: str) -> Dict[str, Dict[str, Any]]:
        return await self._run(self._client.describe_table, table_name)

    async def create_index(self, table_name: str, column: str, index_type: Optional[str] = None,
                           dimension: Optional[int] = None) -> None:
        await self._run(self._client.create_index, table_name, column, index_type, dimension)

    async def drop_index(self, table_name: str, column: str, if_exists: bool = True) -> None:
        await self._run(self._client.drop_index, table_name, column, if_exists)

    async def open_table(self, table_name: str, read_only: bool = False):
        return await self._run(self._client.open_table, table_name, read_only)

    def table(self, table_name: str) -> "AsyncManagedQueryBuilder":
        return AsyncManagedQueryBuilder(self, table_name)

    async def close(self) -> None:
        self._client.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class AsyncManagedQueryBuilder(ManagedQueryBuilder):
    """The fluent builder; ``await builder.execute()`` (or ``await builder()``)."""

    def __init__(self, client: AsyncClient, table: str) -> None:
        super().__init__(client._client, table)
        self._async = client

    async def execute(self) -> List[Dict[str, Any]]:  # type: ignore[override]
        sql, params = self.sql()
        return await self._async.query(sql, tuple(params))

    __call__ = execute  # type: ignore[assignment]
