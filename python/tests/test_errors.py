"""Every error of the spec's "Common errors" and "Error Recovery" tables,
raised for real and checked by class and message, plus the hierarchy."""

import os
import time

import pytest

from conftest import make_jwt
from deeplake import Client
from deeplake.managed import (
    AuthError,
    CredentialsError,
    IngestError,
    ManagedServiceError,
    TableError,
    TokenError,
    WorkspaceError,
)


def test_hierarchy():
    for cls in (AuthError, CredentialsError, IngestError, TableError, TokenError, WorkspaceError):
        assert issubclass(cls, ManagedServiceError)
    assert issubclass(TokenError, AuthError)
    assert not issubclass(IngestError, AuthError)


def test_token_required(workspace, monkeypatch):
    monkeypatch.delenv("DEEPLAKE_API_KEY")
    with pytest.raises(AuthError, match="^Token required"):
        Client(workspace_id="my-workspace")
    with pytest.raises(AuthError, match="^Token required"):
        Client(token="", workspace_id="my-workspace")


def test_token_without_org_id(workspace):
    token = make_jwt({"UserID": "u1", "Exp": int(time.time()) + 60})
    with pytest.raises(TokenError, match="^Token does not contain org_id") as e:
        Client(token=token, workspace_id="my-workspace")
    assert isinstance(e.value, AuthError)


def test_token_expired(workspace):
    token = make_jwt({"OrgID": "o", "Exp": int(time.time()) - 10})
    with pytest.raises(AuthError, match="^Token expired$"):
        Client(token=token, workspace_id="my-workspace")


def test_token_not_a_jwt(workspace):
    with pytest.raises(TokenError, match="^Invalid token format: expected JWT with 3 parts$"):
        Client(token="not-a-jwt", workspace_id="my-workspace")


def test_workspace_id_required(workspace, token):
    for ws in (None, "", "  "):
        with pytest.raises(ManagedServiceError, match="^workspace_id required$"):
            Client(token=token, workspace_id=ws)


def test_file_not_found(client, tmp_path):
    missing = str(tmp_path / "nope.mp4")
    with pytest.raises(IngestError, match=f"^File not found: {missing}$"):
        client.ingest("videos", {"path": [missing]}, schema={"path": "FILE"})
    assert client.list_tables() == []


def test_ffmpeg_not_found(client, files, monkeypatch):
    # A PATH without ffmpeg/ffprobe: the error names the package to install.
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(IngestError, match="^ffprobe not found: install it with apt-get install ffmpeg$"):
        client.ingest("videos", {"path": [str(files / "video2.mp4")]}, schema={"path": "FILE"})
    assert client.list_tables() == []


def test_table_already_exists(client):
    client.ingest("t", {"x": [1, 2]})
    with pytest.raises(TableError, match="^Table 't' already exists$"):
        client.ingest("t", {"x": [3]})
    # drop_table() first, as the spec advises.
    client.drop_table("t")
    assert client.ingest("t", {"x": [3]})["row_count"] == 1


def test_create_deeplake_table_failed(client, workspace):
    # Storage refuses the table: a plain file sits where its folder goes.
    ws = workspace / "testorg" / "my-workspace"
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "blocked").write_text("not a table")
    with pytest.raises(TableError, match="^create_deeplake_table failed: "):
        client.ingest("blocked", {"x": [1]})


@pytest.mark.parametrize("data,kind", [([1, 2], "list"), ("text", "str"), (3, "int")])
def test_data_must_be_a_dict(client, data, kind):
    with pytest.raises(IngestError, match=f"^data must be a dict, got {kind}.$"):
        client.ingest("t", data)


def test_data_must_not_be_empty(client):
    with pytest.raises(IngestError, match="^data must not be empty.$"):
        client.ingest("t", {})


def test_either_data_or_format(client):
    with pytest.raises(IngestError, match="^Either data or format must be provided.$"):
        client.ingest("t")
    with pytest.raises(IngestError, match="^format object must have a normalize\\(\\) method.$"):
        client.ingest("t", format=object())


def test_huggingface_name_must_be_text(client):
    with pytest.raises(IngestError, match="^_huggingface value must be a string, got int.$"):
        client.ingest("t", {"_huggingface": 10})


def test_server_not_running(workspace, token):
    # ManagedServiceError: "Check API server is running at the configured api_url".
    with pytest.raises(ManagedServiceError, match="^API request failed"):
        Client(token=token, workspace_id="ws", api_url="http://127.0.0.1:9")


def test_bad_sql_and_missing_table(client):
    client.ingest("t", {"x": [1]})
    with pytest.raises(TableError, match="^Query failed: "):
        client.query("SELEC x FROM t")
    with pytest.raises(TableError, match="^Query failed: .*nope"):
        client.query("SELECT * FROM nope")
    with pytest.raises(TableError, match="^Query failed: "):
        client.table("t").where("x = $2", 1)()
    with pytest.raises(TableError, match="does not exist"):
        client.open_table("nope")
    with pytest.raises(TableError, match="does not exist"):
        client.drop_table("nope", if_exists=False)
    client.drop_table("nope")  # if_exists defaults to True


def test_wrong_types(client):
    with pytest.raises(IngestError, match="Column 'x', row 1: unsupported value of type object"):
        client.ingest("t", {"x": [1, object()]})
    with pytest.raises(IngestError):
        client.ingest("t", {"x": [1, 2], "y": [1]})
    with pytest.raises(IngestError):
        client.ingest("t", {"v": [1, 2]}, schema={"v": "NOT_A_TYPE"})
    assert client.list_tables() == []


def test_corrupt_files(client, files, tmp_path):
    # A PDF cut in half and text posing as a PNG: the error names the file.
    pdf = tmp_path / "cut.pdf"
    pdf.write_bytes((files / "manual1.pdf").read_bytes()[:20000])
    with pytest.raises(IngestError, match=f"^Failed to ingest data: Failed to process {pdf}: "):
        client.ingest("docs", {"path": [str(pdf)]}, schema={"path": "FILE"})
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    with pytest.raises(IngestError, match=f"Failed to process {fake}: "):
        client.ingest("imgs", {"path": [str(fake)]}, schema={"path": "FILE"})
    assert client.list_tables() == []


def test_bad_query_parameters(client):
    client.ingest("v", {"e": [[1.0, 0.0], [0.0, 1.0]]})
    with pytest.raises(TableError, match="^Query failed: "):
        client.query("SELECT e <#> $1::float4[] AS s FROM v", ([1.0, 0.0, 0.0],))
    with pytest.raises(TableError, match="^Query failed: "):
        client.query("SELECT * FROM v WHERE e = $1")
    with pytest.raises(TableError, match="^Query failed: parameter \\$1: "):
        client.query("SELECT $1", (object(),))
