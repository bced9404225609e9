"""The managed SDK: ``Client``, the error classes, the query builder and
``vector_literal``."""

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
from .query import QueryBuilder, vector_literal
from .client import Client

__all__ = ["Client", "QueryBuilder", "vector_literal", *errors.__all__]
