"""A process that presses Ctrl-C on itself during a long call, for the
Ctrl-C tests and for `scripts/stress-sigint.sh`.

    python interrupt_child.py KIND TOKEN API_URL DELAY [FILE]

KIND is what runs when SIGINT arrives DELAY seconds into it: `ingest` (40M
rows of a numpy column), `video` (FILE, a video, ingested as segments),
`query` (a scan over a table `wide` the caller made) or `append` (40M rows
appended to that table). It prints one line, the verdict:

    interrupted LATENCY_S TABLES_AFTER USABLE

or `finished ...` / `raised ...` when the call did not end in
`KeyboardInterrupt`. USABLE is `usable` when a new ingest and `list_tables`
work on the same client afterwards. A stall prints every thread's stack
after 60 s and exits (faulthandler), so a hang explains itself.
"""

import faulthandler
import os
import signal
import sys
import threading
import time

faulthandler.dump_traceback_later(60, exit=True)
# Ctrl-C as in a terminal, whatever this process inherited: a command that
# a non-interactive shell starts in the background (`cmd &`, and all that
# it runs, a CI job's test run among them) starts with SIGINT ignored, and
# Python then installs no handler, so the signal below would do nothing.
signal.signal(signal.SIGINT, signal.default_int_handler)

import numpy as np  # noqa: E402

from deeplake import Client  # noqa: E402

ROWS = 40_000_000


def main():
    kind, token, api_url, delay = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    path = sys.argv[5] if len(sys.argv) > 5 else None
    c = Client(token=token, workspace_id="ws", api_url=api_url)
    if kind == "ingest":
        data = {"n": np.arange(ROWS, dtype=np.int64)}
        call = lambda: c.ingest("big", data)  # noqa: E731
    elif kind == "append":
        data = {"n": np.arange(ROWS, dtype=np.int64)}
        call = lambda: c.ingest("wide", data, mode="append")  # noqa: E731
    elif kind == "video":
        call = lambda: c.ingest("clips", {"path": [path]}, schema={"path": "FILE"})  # noqa: E731
    elif kind == "query":
        # Every row's sum, sorted: no index and no short cut end it early.
        sql = "SELECT n, sum(n) OVER (ORDER BY n % 7919, n) AS s FROM wide ORDER BY s DESC LIMIT 1"
        call = lambda: c.query(sql, timeout=None)  # noqa: E731
    else:
        raise SystemExit(f"unknown kind {kind!r}")

    sent = []

    def press():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Timer(delay, press).start()
    try:
        r = call()
        print("finished", r if kind == "query" else r["row_count"], flush=True)
    except KeyboardInterrupt:
        latency = time.monotonic() - sent[0] if sent else -1.0
        tables = c.list_tables()
        c.ingest("after", {"n": [1, 2, 3]}, mode="overwrite")
        usable = "usable" if "after" in c.list_tables() else "unusable"
        print("interrupted", f"{latency:.3f}", ",".join(t for t in tables if t != "after") or "-",
              usable, flush=True)
    except BaseException as e:  # noqa: BLE001 - the verdict names it
        print("raised", type(e).__name__, e, flush=True)


main()
# The interpreter's own shutdown runs as after any script: a stall there is
# a stall of the user's process too.
sys.stdout.flush()
