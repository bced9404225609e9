"""Every error of the spec's "Common errors" and "Error Recovery" tables,
raised for real and checked by class and message, plus the hierarchy."""

import os
import shutil
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


@pytest.mark.parametrize("present,message", [
    ([], "ffmpeg not found (ffprobe is missing): install it with sudo apt-get install ffmpeg"),
    (["ffmpeg"], "ffmpeg not found (ffprobe is missing): install it with sudo apt-get install ffmpeg"),
    (["ffprobe"], "ffmpeg not found: install it with sudo apt-get install ffmpeg"),
])
def test_ffmpeg_not_found(client, files, monkeypatch, tmp_path, present, message):
    # A PATH with only some of ffmpeg's programs: the error reads "ffmpeg
    # not found", as the spec has it, names the package, and leaves nothing.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in present:
        os.symlink(shutil.which(program), bin_dir / program)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(IngestError) as e:
        client.ingest("videos", {"path": [str(files / "video2.mp4")]}, schema={"path": "FILE"})
    assert str(e.value) == message
    assert client.list_tables() == []


def test_table_already_exists(client):
    client.ingest("t", {"x": [1, 2]})
    with pytest.raises(TableError, match="^Table already exists: 't'$"):
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
    # Nothing listens on the discard port of loopback: the connection is
    # refused, and every call says so as the reference words it.
    client = Client(token=token, workspace_id="ws", api_url="http://127.0.0.1:9")
    for call in (client.list_tables, lambda: client.query("SELECT 1")):
        with pytest.raises(ManagedServiceError) as e:
            call()
        assert "API request failed: " in str(e.value)
        assert "127.0.0.1:9" in str(e.value) or "onnect" in str(e.value), str(e.value)
    # A query failure is a TableError, as the reference reports it.
    with pytest.raises(TableError, match="^Query failed: API request failed: "):
        client.query("SELECT 1")
    with pytest.raises(ManagedServiceError, match="^Unsupported api_url 'ftp://x': expected file://PATH or http"):
        Client(token=token, workspace_id="ws", api_url="ftp://x")


# The spec's "Common errors" table: each error, raised for real, carries its
# literal text under its class.
def _no_token(env):
    env["monkeypatch"].delenv("DEEPLAKE_API_KEY")
    Client(workspace_id="my-workspace")


def _no_org(env):
    Client(token=make_jwt({"UserID": "u1", "Exp": int(time.time()) + 60}), workspace_id="my-workspace")


def _no_workspace(env):
    Client(token=env["token"], workspace_id="")


def _missing_file(env):
    env["client"].ingest("videos", {"path": [str(env["tmp_path"] / "video.mp4")]}, schema={"path": "FILE"})


def _no_ffmpeg(env):
    env["monkeypatch"].setenv("PATH", str(env["tmp_path"]))
    env["client"].ingest("videos", {"path": [str(env["files"] / "video2.mp4")]}, schema={"path": "FILE"})


def _create_failed(env):
    ws = env["workspace"] / "testorg" / "my-workspace"
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "blocked").write_text("not a table")
    env["client"].ingest("blocked", {"x": [1]})


def _table_exists(env):
    env["client"].ingest("t", {"x": [1]})
    env["client"].ingest("t", {"x": [2]})


@pytest.mark.parametrize("cls,literal,action", [
    (AuthError, "Token required", _no_token),
    (AuthError, "Token does not contain org_id", _no_org),
    (ManagedServiceError, "workspace_id required", _no_workspace),
    (IngestError, "File not found", _missing_file),
    (IngestError, "ffmpeg not found", _no_ffmpeg),
    (TableError, "create_deeplake_table failed", _create_failed),
    (TableError, "Table already exists", _table_exists),
])
def test_common_errors_table(cls, literal, action, client, files, workspace, token, tmp_path, monkeypatch):
    env = dict(client=client, files=files, workspace=workspace, token=token, tmp_path=tmp_path,
               monkeypatch=monkeypatch)
    with pytest.raises(cls) as e:
        action(env)
    assert literal in str(e.value), f"{type(e.value).__name__}: {e.value}"
    # The solution column's command, where the table gives one.
    if literal == "ffmpeg not found":
        assert "sudo apt-get install ffmpeg" in str(e.value)


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
    with pytest.raises(IngestError, match="^All columns must have the same length: 'x' has 2 rows but 'y' has 1.$"):
        client.ingest("t", {"x": [1, 2], "y": [1]})
    with pytest.raises(IngestError, match="^Invalid schema for column 'v': .*NOT_A_TYPE"):
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
