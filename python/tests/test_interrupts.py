"""A real Ctrl-C (SIGINT) during long calls: an ingest of columns, a video
file ingest, a large query and an ingest into a server. Each runs in a child
process (interrupt_child.py), so the signal cannot reach the test runner,
and each must end in KeyboardInterrupt within a second, leave no table
half-written, and leave the client usable."""

import os
import sys

import numpy as np
import pytest

from conftest import make_jwt, run_child, video
from deeplake import Client

CHILD = os.path.join(os.path.dirname(__file__), "interrupt_child.py")


def interrupt(kind, api_url, token, *extra, delay=0.3):
    """The child's verdict: (seconds from SIGINT to KeyboardInterrupt,
    the tables after it, whether the client still worked)."""
    out = run_child([sys.executable, CHILD, kind, token, api_url, str(delay), *extra],
                    capture_output=True, text=True, timeout=90)
    verdict = out.stdout.strip().split()
    assert out.returncode == 0 and verdict[:1] == ["interrupted"], out.stdout + out.stderr
    latency, tables, usable = float(verdict[1]), verdict[2].split(","), verdict[3]
    assert usable == "usable", out.stdout
    return latency, [t for t in tables if t != "-"]


@pytest.fixture
def local(tmp_path):
    return "file://" + str(tmp_path / "root"), make_jwt({"OrgID": "sigint"})


def test_ctrl_c_during_an_ingest(local):
    latency, tables = interrupt("ingest", *local)
    assert latency < 1.0
    assert tables == []


def test_ctrl_c_during_a_video_ingest(local, tmp_path):
    # Ten minutes of video: its segments and thumbnails take ffmpeg several
    # runs, and the signal lands while one of them runs.
    clip = str(tmp_path / "long.mp4")
    video(clip, 600)
    latency, tables = interrupt("video", *local, clip, delay=0.5)
    assert latency < 1.0
    assert tables == []


def test_ctrl_c_during_a_query(local):
    url, token = local
    c = Client(token=token, workspace_id="ws", api_url=url)
    c.ingest("wide", {"n": np.arange(5_000_000, dtype=np.int64)})
    version = c.open_table("wide").version
    latency, tables = interrupt("query", url, token)
    assert latency < 1.0
    assert tables == ["wide"]
    assert c.open_table("wide").version == version


def test_ctrl_c_during_a_remote_ingest(server):
    token = server.token("sigint-remote")
    latency, tables = interrupt("ingest", server.url, token)
    assert latency < 1.0
    assert tables == []
    c = Client(token=token, workspace_id="ws", api_url=server.url)
    assert "big" not in c.list_tables()
