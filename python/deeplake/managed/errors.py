"""The error classes of the managed SDK, with the reference's hierarchy.

``ManagedServiceError`` is the base of every error; ``TokenError`` is a kind
of ``AuthError``. The native core raises these same classes.
"""

from __future__ import annotations

import json as _json
from typing import Any

__all__ = [
    "ManagedServiceError",
    "AuthError",
    "TokenError",
    "CredentialsError",
    "IngestError",
    "TableError",
    "WorkspaceError",
    "Json",
]


class ManagedServiceError(Exception):
    """Base class for all errors of the client."""


class AuthError(ManagedServiceError):
    """The token is missing, invalid or expired."""


class TokenError(AuthError):
    """The token could not be parsed or lacks the org claim."""


class CredentialsError(ManagedServiceError):
    """Storage credentials could not be fetched."""


class IngestError(ManagedServiceError):
    """Ingestion failed: bad data, a missing file or tool, a failing format."""


class TableError(ManagedServiceError):
    """A table operation or a query failed."""


class WorkspaceError(ManagedServiceError):
    """The workspace does not exist or is not accessible."""


class Json(str):
    """A JSON value from a query: the JSON text itself (so ``json.loads``
    works on it), with the parsed object in ``.value``."""

    __slots__ = ()

    @property
    def value(self) -> Any:
        """The parsed value (dict, list, str, number, bool or None)."""
        return _json.loads(self)
