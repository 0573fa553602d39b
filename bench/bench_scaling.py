"""Scaling benchmark: a study on 1, 2, 3 worker nodes, and the driver's per-trial costs.

Part 1 (cluster): for each node count, a fresh loopback Ray cluster (`ray start`, token auth, a
head with no CPUs plus N workers with one CPU each), then ``run_study`` against it from this
process; trials per minute, dispatch efficiency, and the engine's own time (ask, tell, reports).
All nodes share this machine's cores, so the speedup stops at the core count.

Part 2 (driver, no Ray): what one trial costs the driver as a study grows, to extrapolate to
100,000 trials: the sampler's ``ask`` (TPE, random) against the number of finished trials, and
a trial's storage work (ask, its write at launch, its curve and attributes, ``tell``) against the
number of trials already stored, with hpsearch's driver storage beside Optuna's own SQLite
storage used the same way, and both again on PostgreSQL with ``--storage-url``.

    python bench/bench_scaling.py                 # both parts; JSON to stdout
    python bench/bench_scaling.py --part driver --sizes 0 1000 5000
    python bench/bench_scaling.py --part driver --storage-url postgres   # + a local PostgreSQL

Part 3 (study): one long study of tiny trials (random sampler, ``--study-trials``, 20,000 by
default), local Ray with 2 CPUs: trials per second over the first and the last thousand, from the
stored completion times, and the driver process's memory (RSS) sampled as the study grows, then
the time what follows the search takes (tables, the best retrained and tested, the report).
With and without a pruner (``--study-pruner``).

    python bench/bench_scaling.py --part study --study-trials 20000 --study-pruner none median
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The loopback cluster of the cluster tests: `ray start` subprocesses stopped by process id.
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

STUDY = """# scaling benchmark workload
[study]
name = "{name}"
seed = 11
n_trials = {n_trials}
[dataset]
name = "digits"
n_train = 1000
[space]
num_epochs = {epochs}
learning_rate = {{ low = 1e-3, high = 1e-1, log = true }}
hidden_size = {{ low = 64, high = 128 }}
dropout = {{ low = 0.0, high = 0.3 }}
[pruner]
name = "none"
"""


def bench_cluster(workers: list[int], n_trials: int, epochs: int) -> list[dict]:
    from _loopback import LoopbackCluster

    from hpsearch.search import run_study
    from hpsearch.study import parse_study_config

    token = secrets.token_hex(32)
    # Token auth for this process's driver: Ray caches the token, so every cluster shares one.
    os.environ.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token})
    import ray

    rows = []
    for n in workers:
        with tempfile.TemporaryDirectory(prefix="hps") as tmp:
            root = Path(tmp)
            cluster = LoopbackCluster(root, token=token)
            try:
                cluster.start_head(num_cpus=0)
                for i in range(n):
                    cluster.add_worker(f"w{i}", num_cpus=1)
                config = parse_study_config(
                    STUDY.format(name=f"scale{n}", n_trials=n_trials, epochs=epochs))
                ray.init(address=cluster.address, log_to_driver=False)
                t0 = time.perf_counter()
                summary = run_study(config, runs_dir=root / "runs", progress=False)
                total_s = time.perf_counter() - t0
                ray.shutdown()
            finally:
                if ray.is_initialized():
                    ray.shutdown()
                left = cluster.shutdown()
            assert not left, left
        engine = summary.engine
        rows.append({
            "workers": n, "n_trials": n_trials, "epochs": epochs,
            "wall_s": round(summary.wall_s, 2), "run_study_s": round(total_s, 2),
            "trials_per_min": round(60 * n_trials / summary.wall_s, 1),
            "mean_trial_s": round(summary.trial_s / n_trials, 3),
            "in_flight": summary.max_in_flight,
            "efficiency": round(summary.efficiency, 3),
            "engine_ms_per_trial": round(1000 * (engine["ask_s"] + engine["tell_s"]
                                                 + engine["report_s"]) / n_trials, 2),
            "ask_ms": round(1000 * engine["ask_s"] / max(engine["n_ask"], 1), 2),
            "tell_ms": round(1000 * engine["tell_s"] / max(engine["n_tell"], 1), 2),
        })
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


TINY_STUDY = """# scaling benchmark: many tiny trials
[study]
name = "{name}"
seed = 3
n_trials = {n_trials}
[dataset]
name = "digits"
n_train = 200
[space]
num_epochs = 3
batch_size = 100
learning_rate = {{ low = 1e-3, high = 1e-1, log = true }}
hidden_size = {{ low = 8, high = 16 }}
[sampler]
name = "random"
[pruner]
name = "{pruner}"
{pruner_options}
"""


class _RSSSampler:
    """RSS of this process (the driver) every ``every_s``, as (seconds, MiB) pairs."""

    def __init__(self, every_s: float = 1.0) -> None:
        import threading

        self.samples: list[tuple[float, float]] = []
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.perf_counter()
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.wait(self._every_s):
            rss = int(Path("/proc/self/statm").read_text().split()[1]) * page
            self.samples.append((time.perf_counter() - t0, rss / 2**20))

    def __enter__(self) -> _RSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def bench_study(n_trials: int, pruners: list[str]) -> list[dict]:
    """A study of ``n_trials`` tiny trials per pruner: throughput and driver memory as it grows."""
    import logging

    import optuna
    import ray

    from hpsearch.results import after_search
    from hpsearch.search import run_study
    from hpsearch.study import find_study, parse_study_config

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    for pruner in pruners:
        options = "n_startup_trials = 5\nn_warmup_steps = 1" if pruner == "median" else ""
        with tempfile.TemporaryDirectory(prefix="hps") as tmp:
            runs = Path(tmp) / "runs"
            config = parse_study_config(TINY_STUDY.format(
                name=f"tiny_{pruner}", n_trials=n_trials, pruner=pruner, pruner_options=options))
            ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
            logging.getLogger("hpsearch").setLevel(logging.ERROR)
            try:
                with _RSSSampler() as rss:
                    t0 = time.perf_counter()
                    summary = run_study(config, runs_dir=runs, progress=False)
                    run_s = time.perf_counter() - t0
            finally:
                ray.shutdown()
            study = find_study(config.name, runs_dir=runs)
            dataset = config.load_data()
            t0 = time.perf_counter()
            after_search(study, dataset)  # tables, the best retrained and tested, the report
            after_s = time.perf_counter() - t0
            ends = sorted(t.datetime_complete.timestamp() for t in study.study.trials
                          if t.datetime_complete is not None)
        per_k = [1000 / (ends[i + 999] - ends[i]) for i in range(0, len(ends) - 999, 1000)]
        mem = rss.samples
        rows.append({
            "pruner": pruner, "n_trials": n_trials, "run_s": round(run_s, 1),
            "n_complete": summary.n_complete, "n_pruned": summary.n_pruned,
            "n_failed": summary.n_failed,
            "first_1000_per_s": round(per_k[0], 1), "last_1000_per_s": round(per_k[-1], 1),
            "per_1000_per_s": [round(v, 1) for v in per_k],
            "driver_rss_mib_first": round(mem[min(5, len(mem) - 1)][1]),
            "driver_rss_mib_last": round(mem[-1][1]),
            "driver_rss_mib_max": round(max(m for _, m in mem)),
            "ask_ms": round(1000 * summary.engine["ask_s"] / max(summary.engine["n_ask"], 1), 2),
            "tell_ms": round(1000 * summary.engine["tell_s"] / max(summary.engine["n_tell"], 1),
                             2),
            "after_search_s": round(after_s, 1),
        })
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def _fill(study, n: int, rng) -> None:
    """Add ``n`` finished trials with plausible values, straight into the study."""
    import optuna
    from optuna.distributions import FloatDistribution, IntDistribution

    dists = {"learning_rate": FloatDistribution(1e-4, 1e-1, log=True),
             "reg": FloatDistribution(1e-6, 1e-2, log=True),
             "hidden_size": IntDistribution(32, 256), "dropout": FloatDistribution(0, 0.5)}
    trials = []
    for _ in range(n):
        params = {"learning_rate": float(10 ** rng.uniform(-4, -1)),
                  "reg": float(10 ** rng.uniform(-6, -2)),
                  "hidden_size": int(rng.integers(32, 257)),
                  "dropout": float(rng.uniform(0, 0.5))}
        trials.append(optuna.trial.create_trial(params=params, distributions=dists,
                                                value=float(rng.uniform(0.8, 0.99))))
    study.add_trials(trials)


def _suggest(trial) -> None:
    trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
    trial.suggest_float("reg", 1e-6, 1e-2, log=True)
    trial.suggest_int("hidden_size", 32, 256)
    trial.suggest_float("dropout", 0, 0.5)


def bench_sampler(sizes: list[int], repeats: int) -> list[dict]:
    """ms per ask+suggest (4 parameters) with ``size`` finished trials, in-memory storage."""
    import numpy as np
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    for name, make in [("tpe", lambda: optuna.samplers.TPESampler(seed=0)),
                       ("tpe_multivariate",
                        lambda: optuna.samplers.TPESampler(seed=0, multivariate=True)),
                       ("random", lambda: optuna.samplers.RandomSampler(seed=0))]:
        for size in sizes:
            study = optuna.create_study(direction="maximize", sampler=make())
            _fill(study, size, np.random.default_rng(0))
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                trial = study.ask()
                _suggest(trial)
                times.append(time.perf_counter() - t0)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)  # not a finished value
            rows.append({"sampler": name, "finished": size,
                         "ask_ms": round(1000 * statistics.median(times), 2)})
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def _one_trial(study, storage, epochs: int) -> tuple[float, float, float, float]:
    """One trial's driver-side storage work, as the engine does it.

    Returns seconds for ask (with the seed attribute), launch (written before the trial runs),
    record (curve and attributes), tell.
    """
    history = {"loss": [1.0] * epochs, "val_acc": [0.9] * epochs, "train_acc": [0.9] * epochs}
    attrs = {"node": "x" * 56, "node_ip": "10.0.0.1", "duration_s": 1.0,
             "epochs_run": epochs, "history": history}
    from hpsearch.storage import persist_launch

    t0 = time.perf_counter()
    trial = study.ask()
    _suggest(trial)
    trial.set_user_attr("seed", 1)
    t1 = time.perf_counter()
    if storage is not None:
        persist_launch(study, trial)
    t2 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        trial.report(0.9, epoch)
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    t3 = time.perf_counter()
    study.tell(trial, 0.9)
    return t1 - t0, t2 - t1, t3 - t2, time.perf_counter() - t3


def bench_storage(sizes: list[int], repeats: int, epochs: int,
                  pg_url: str | None = None) -> list[dict]:
    """ms of storage work per trial against the number of trials stored.

    hpsearch's driver storage (memory reads, one transaction at launch and one at tell) beside
    Optuna's own SQLite storage used the same way (public API, one commit per call), side by
    side on files of the same size. With ``pg_url`` (a PostgreSQL database), the same two again
    on it ("optuna_pg", "hpsearch_pg"), as two studies of that database, removed afterwards.
    """
    import numpy as np
    import optuna

    from hpsearch.storage import SingleWriterStorage
    from hpsearch.storage import open_backend as _make_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory(prefix="hps") as tmp:
        # kind -> (URL, study name)
        where = {kind: (f"sqlite:///{tmp}/{kind}.db", "s") for kind in ("optuna", "hpsearch")}
        if pg_url is not None:
            tag = f"bench_{os.getpid()}_{int(time.time())}"
            where |= {f"{kind}_pg": (pg_url, f"{tag}_{kind}") for kind in ("optuna", "hpsearch")}
        fill = {kind: optuna.create_study(storage=_make_storage(url), direction="maximize",
                                          study_name=name)
                for kind, (url, name) in where.items()}
        try:
            stored = 0
            for size in sizes:
                for study in fill.values():
                    _fill(study, size - stored, np.random.default_rng(size))
                stored = size
                studies, open_ms = {}, {}
                for kind, (url, name) in where.items():
                    t0 = time.perf_counter()
                    if kind.startswith("hpsearch"):
                        mine = SingleWriterStorage(_make_storage(url))
                        studies[kind] = (optuna.load_study(
                            study_name=name, storage=mine,
                            sampler=optuna.samplers.RandomSampler(seed=0)), mine)
                    else:
                        studies[kind] = (optuna.load_study(
                            study_name=name, storage=_make_storage(url),
                            sampler=optuna.samplers.RandomSampler(seed=0)), None)
                    open_ms[kind] = 1000 * (time.perf_counter() - t0)
                times: dict[str, list[tuple[float, ...]]] = {kind: [] for kind in studies}
                for _ in range(repeats):  # interleaved, so load from elsewhere hits all alike
                    for kind, (study, storage) in studies.items():
                        times[kind].append(_one_trial(study, storage, epochs))
                stored += repeats  # all grew alike
                for kind, samples in times.items():
                    cols = [round(1000 * statistics.median(col), 2)
                            for col in zip(*samples, strict=True)]
                    rows.append({"storage": kind, "stored": size, "epochs": epochs,
                                 "ask_ms": cols[0], "launch_ms": cols[1], "record_ms": cols[2],
                                 "tell_ms": cols[3], "total_ms": round(sum(cols), 2),
                                 "open_ms": (round(open_ms[kind])
                                             if kind.startswith("hpsearch") else None),
                                 "db_mb": _db_mb(where[kind][0])})
                    print(json.dumps(rows[-1]), file=sys.stderr)
        finally:
            if pg_url is not None:
                backend = _make_storage(pg_url)
                for url, name in where.values():
                    if url == pg_url:
                        optuna.delete_study(study_name=name, storage=backend)
    return rows


def _db_mb(url: str) -> float:
    """The database's size: the SQLite file, or the whole PostgreSQL database (both studies)."""
    if url.startswith("sqlite:///"):
        return round(Path(url.removeprefix("sqlite:///")).stat().st_size / 2**20, 1)
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    finally:
        engine.dispose()
    return round(size / 2**20, 1)


@contextlib.contextmanager
def _postgres(url: str | None):
    """The PostgreSQL database to measure: ``url`` as given, or with "postgres" a throwaway
    server (PostgreSQL's default, durable settings) started and stopped here."""
    if url != "postgres":
        yield url
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from _postgres import start_throwaway, stop

    server = start_throwaway(durable=True)
    try:
        yield server.url
    finally:
        stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["all", "cluster", "driver", "study"], default="all")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--n-trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 1000, 3000, 10000])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--storage-url", metavar="URL", help=(
        "also measure the driver's storage on this PostgreSQL database (postgresql://USER:PASS@"
        "HOST:PORT/DB), or 'postgres' for a throwaway local server (needs PostgreSQL's "
        "programs and psycopg: pip install -e '.[postgres]')"))
    parser.add_argument("--study-trials", type=int, default=20_000)
    parser.add_argument("--study-pruner", nargs="+", default=["none", "median"])
    args = parser.parse_args()
    out: dict = {"cpus": os.cpu_count()}
    if args.part in ("all", "cluster"):
        out["cluster"] = bench_cluster(args.workers, args.n_trials, args.epochs)
    if args.part in ("all", "driver"):
        out["sampler"] = bench_sampler(args.sizes, args.repeats)
        with _postgres(args.storage_url) as pg_url:
            out["storage"] = bench_storage(args.sizes, args.repeats, epochs=30, pg_url=pg_url)
    if args.part in ("all", "study"):
        out["study"] = bench_study(args.study_trials, args.study_pruner)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
