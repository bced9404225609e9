"""The managed service from the package alone: ``python -m deeplake.server
--root DIR`` runs the same server as ``deeplake serve``, and
``create_token`` signs tokens for it (the secret comes from
``DEEPLAKE_JWT_SECRET`` unless given)."""

from __future__ import annotations

import argparse
from typing import Optional

from . import _native

__all__ = ["serve", "create_token"]


def serve(root: str, http: str = "127.0.0.1:8080", *, jwt_secret: Optional[str] = None,
          auto_workspaces: bool = True, max_body_mb: int = 256, max_query_secs: int = 300) -> None:
    """Serves the REST API over ``root`` (a directory or ``s3://bucket/prefix``)
    until SIGINT or SIGTERM."""
    _native.serve(root, http, jwt_secret, auto_workspaces, max_body_mb, max_query_secs)


def create_token(org: Optional[str] = None, user: Optional[str] = None, *, name: Optional[str] = None,
                 ttl: int = 30 * 24 * 3600, jwt_secret: Optional[str] = None) -> str:
    """An HS256 token with the reference's claims, valid for ``ttl`` seconds."""
    return _native.create_token(org, user, name, ttl, jwt_secret)


def main(argv: Optional[list] = None) -> None:
    p = argparse.ArgumentParser(prog="python -m deeplake.server", description=__doc__)
    p.add_argument("--root", required=True, help="a directory or s3://bucket/prefix")
    p.add_argument("--http", default="127.0.0.1:8080")
    p.add_argument("--no-auto-workspaces", action="store_true")
    args = p.parse_args(argv)
    serve(args.root, args.http, auto_workspaces=not args.no_auto_workspaces)


if __name__ == "__main__":
    main()
