"""Any client that speaks the reference's protocol works against
`deeplake serve` unchanged: the reference package's own managed Client
(deeplake 4.7.4, installed by scripts/setup-python.sh in .venv-refclient)
creates, fills, queries, lists and drops a table on our server."""

import json
import os
import subprocess
import uuid

import pytest

from conftest import REPO, run_child


def test_the_reference_client_works_unchanged(server):
    python = os.path.join(REPO, ".venv-refclient", "bin", "python")
    if not os.access(python, os.X_OK):
        pytest.fail(f"{python} is missing: scripts/setup-python.sh installs the reference client there")
    org = "org-" + uuid.uuid4().hex[:8]
    user = "ref-" + uuid.uuid4().hex[:8]
    token = server.token(org, user=user)
    no_org = server.token(None, user=user)
    script = os.path.join(os.path.dirname(__file__), "reference_client.py")
    run = run_child([python, script, server.url, token, no_org], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["org"] == org
    assert out["created"]["created"] is True and out["again"]["created"] is False
    assert "already exists" in out["conflict"]
    assert [r["title"] for r in out["rows"]] == ["a", "b"]
    assert out["rows"][0]["n"] == 1 and abs(out["rows"][0]["score"] - 1.0) < 1e-6
    assert out["builder"] == [{"title": "b"}]
    assert out["tables"] == ["docs"]
    assert out["bad_sql"].startswith("Query failed: ") and "syntax error" in out["bad_sql"]
    # A token without OrgID: the reference client asks /me and takes the first org.
    assert out["fallback_org"] == org
    assert out["after_drop"] == []
