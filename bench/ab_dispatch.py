"""A/B of hpsearch's dispatch between two checkouts: bench_dispatch.py's hpsearch workload only.

Runs the workload (digits, 40 trials of 20 epochs, 2 in flight) ``--repeats`` times with Ray
started once, from whichever hpsearch is importable (and that checkout's own
bench/bench_dispatch.py), and prints one JSON line of medians. Alternate two checkouts process
by process, so that the machine's drift hits both alike:

    git worktree add /tmp/wt-old <commit>
    for i in 1 2 3; do
        PYTHONPATH=/tmp/wt-old python bench/ab_dispatch.py --pruner none
        python bench/ab_dispatch.py --pruner none
    done

"wall" is ``run_study`` from call to return (setup included, Ray's start excluded), as in
bench_dispatch.py's table; "eff" is dispatch efficiency (from the first submission).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pruner", choices=["none", "median"], default="none")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import hpsearch

    checkout = Path(hpsearch.__file__).resolve().parents[1]
    sys.path.insert(0, str(checkout / "bench"))
    import bench_dispatch as b
    import optuna
    import ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "warmup").mkdir()
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        b.run_hpsearch(tmp / "warmup", 100, 4, 20, args.pruner)  # workers start, not measured
        runs = []
        for rep in range(args.repeats):
            b.settle()
            runs.append(b.run_hpsearch(tmp, rep, 40, 20, args.pruner))
        ray.shutdown()

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    print(json.dumps({"checkout": str(checkout), "pruner": args.pruner,
                      "wall_s": round(med("wall_s"), 2), "efficiency": round(med("efficiency"), 3),
                      "trial_s": round(med("trial_s"), 2), "ask_ms": round(med("ask_ms"), 1),
                      "tell_ms": round(med("tell_ms"), 1),
                      "walls": [round(r["wall_s"], 2) for r in runs]}))


if __name__ == "__main__":
    main()
