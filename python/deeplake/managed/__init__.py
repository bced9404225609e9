"""The managed SDK: ``Client`` and ``AsyncClient``, the error classes, the query builder
(``ManagedQueryBuilder``, also named ``QueryBuilder``) and ``vector_literal``."""

from . import errors
from .errors import (
    AuthError,
    CredentialsError,
    IngestError,
    Json,
    ManagedServiceError,
    TableError,
    TokenError,
    WorkspaceError,
)
from .query import ManagedQueryBuilder, QueryBuilder, vector_literal
from .client import Client
from .async_client import AsyncClient, AsyncManagedQueryBuilder

__all__ = ["Client", "AsyncClient", "AsyncManagedQueryBuilder", "ManagedQueryBuilder", "QueryBuilder", "vector_literal", *errors.__all__]
