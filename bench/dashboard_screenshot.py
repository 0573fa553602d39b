"""See a running study in optuna-dashboard as a user does: a headless Chromium screenshot.

Runs a small study whose trials train for a while, serves it with `hpsearch dashboard`, waits until
a running trial has stored several points, and screenshots the study's page in headless
Chromium (Debian package `chromium`). Needs the `dashboard` extra.

    python bench/dashboard_screenshot.py --out bench/results/dashboard.png
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

STUDY = """# a study slow enough to be watched: long trials, one at a time
[study]
name = "watched"
seed = 0
n_trials = 3
[dataset]
name = "digits"
[space]
num_epochs = 1500
learning_rate = { low = 1e-3, high = 1e-2, log = true }
hidden_size = 128
[pruner]
name = "none"
[run]
max_in_flight = 1
evaluate_best = false
report = false
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _running_points(url: str) -> int:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name="watched", storage=url)
    except Exception:
        return 0
    running = [t for t in study.get_trials(deepcopy=False) if t.state.name == "RUNNING"]
    return max((len(t.intermediate_values) for t in running), default=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/dashboard.png"))
    parser.add_argument("--points", type=int, default=30, help="running trial's points to wait for")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="hps-dash-"))
    (work / "watched.toml").write_text(STUDY)
    runs = work / "runs"
    url = f"sqlite:///{runs / 'watched' / 'study.db'}"
    port = _free_port()
    procs = []
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "hpsearch", "run", str(work / "watched.toml"),
             "--runs-dir", str(runs), "--no-progress"], cwd=work))
        deadline = time.monotonic() + 180
        while _running_points(url) < args.points:
            if time.monotonic() > deadline:
                print("no running trial with enough points in time", file=sys.stderr)
                return 1
            time.sleep(0.5)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "hpsearch", "dashboard", "watched", "--runs-dir", str(runs),
             "--port", str(port)], cwd=work))
        base = f"http://127.0.0.1:{port}/dashboard/studies/1"
        for _ in range(100):
            try:
                urllib.request.urlopen(base, timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        print(f"running trial has {_running_points(url)} points")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        # The study page plots every trial's intermediate values, the running one's included
        # (far down: the tall window); the trials page lists its points and "Fail trial".
        for suffix, shot in (("", args.out),
                             ("trials", args.out.with_name(args.out.stem + "-trials.png"))):
            subprocess.run(
                [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={work / 'chrome'}", "--virtual-time-budget=8000",
                 f"--screenshot={shot.resolve()}", "--window-size=1400,4200",
                 f"{base}/{suffix}"],
                check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            print(f"screenshot of {base}/{suffix}: {shot}")
        return 0
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
