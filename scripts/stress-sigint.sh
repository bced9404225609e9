#!/usr/bin/env bash
# Presses Ctrl-C on N ingests and reports how many stalled (not part of CI).
#
#   bash scripts/stress-sigint.sh N [KIND] [PARALLEL] [ignored]
#
# Runs python/tests/interrupt_child.py N times, PARALLEL at a time (default
# 4), each with SIGINT at a random 0.05 to 0.5 s into a KIND call (default
# `ingest`), with as many CPU burners beside them as there are cores: the
# full test suite runs other processes at the same time, and a stall showed
# there and not alone. A child that has not printed its verdict 20 s after
# its start (a normal one takes about a second) counts as stalled; the
# native stacks of the first stalled child (gdb, "thread apply all bt") are
# written to stress-sigint-stacks.txt before it is killed. Exits non-zero
# when any child stalled or printed a wrong verdict. With `ignored` the
# children start with SIGINT ignored, as every command a non-interactive
# shell starts in the background does (`cmd &` in a script, and so whatever
# it runs): a process must not depend on the disposition it inherits.
#
# It uses the package in .venv-test (scripts/test.sh builds it there).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100}
kind=${2:-ingest}
parallel=${3:-4}
python=${PYTHON:-.venv-test/bin/python}
exec "$python" - "$runs" "$kind" "$parallel" "${4:-}" <<'EOF'
import os, random, shutil, signal, subprocess, sys, tempfile, time

runs, kind, parallel, ignored = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "ignored"
sys.path.insert(0, "python/tests")
from conftest import make_jwt, video  # noqa: E402

child = os.path.abspath("python/tests/interrupt_child.py")
token = make_jwt({"OrgID": "stress"})
work = tempfile.mkdtemp(prefix="stress-sigint-")
extra = []
if kind == "video":
    clip = os.path.join(work, "clip.mp4")
    video(clip, 120)
    extra = [clip]
if ignored:
    # Inherited by the children (and ignored in this driver too).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
running, done = [], 0
stalled, wrong, latencies = [], [], []
stacks_written = False
try:
    while done < runs:
        while len(running) < parallel and done + len(running) < runs:
            i = done + len(running)
            root = os.path.join(work, f"root{i}")
            delay = random.uniform(0.05, 0.5)
            p = subprocess.Popen([sys.executable, child, kind, token, "file://" + root, f"{delay:.3f}", *extra],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
            running.append((p, time.monotonic(), delay, root))
        time.sleep(0.05)
        for entry in list(running):
            p, started, delay, root = entry
            if p.poll() is None and time.monotonic() - started < 20:
                continue
            running.remove(entry)
            done += 1
            stuck = p.poll() is None
            if stuck:
                stalled.append(delay)
                if not stacks_written:
                    with open("stress-sigint-stacks.txt", "w") as f:
                        subprocess.run(["gdb", "-batch", "-p", str(p.pid), "-ex", "thread apply all bt"],
                                       stdout=f, stderr=subprocess.STDOUT, timeout=120)
                    stacks_written = True
                p.kill()
            out, err = p.communicate()
            verdict = out.strip().split()
            if verdict[:1] == ["interrupted"] and p.returncode == 0:
                latencies.append(float(verdict[1]))
            elif not stuck:
                wrong.append((delay, out.strip(), err.strip()[-2000:]))
            shutil.rmtree(root, ignore_errors=True)
        if done and done % 50 == 0 and not running:
            print(f"{done}/{runs} runs", flush=True)
finally:
    for b in burners:
        b.kill()
    for p, *_ in running:
        p.kill()
    shutil.rmtree(work, ignore_errors=True)
for delay, out, err in wrong[:3]:
    print(f"wrong verdict (signal at {delay:.3f} s): {out!r}\n{err}")
latencies.sort()
if latencies:
    print(f"latency from SIGINT to KeyboardInterrupt: median {latencies[len(latencies) // 2]:.3f} s, "
          f"max {latencies[-1]:.3f} s")
print(f"{runs} runs of {kind}{' with SIGINT ignored at start' if ignored else ''}: {len(stalled)} stalled, {len(wrong)} wrong verdicts"
      + (" (native stacks of the first in stress-sigint-stacks.txt)" if stalled else ""))
sys.exit(1 if stalled or wrong else 0)
EOF
