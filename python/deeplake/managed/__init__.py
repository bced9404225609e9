"""The managed SDK: ``Client``, the error classes, the query builder
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

__all__ = ["Client", "ManagedQueryBuilder", "QueryBuilder", "vector_literal", *errors.__all__]
