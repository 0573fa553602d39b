"""Dispatch benchmark: hpsearch against plain Optuna and Ray Tune + OptunaSearch, side by side.

Workload (issue 4): digits, 40 trials of 20 epochs, 2 trials in flight, the same search space and
the same training code (hpsearch.training.fit) for every engine. Each engine runs ``--repeats``
times; the table shows medians. Dispatch efficiency = summed trial time / (wall time x in flight).

    python bench/bench_dispatch.py --repeats 3
    python bench/bench_dispatch.py --repeats 3 --engines "no pruning" "median" "tune"

The "arbiter" variants run the same study as a driver that joined a cluster does: its slots come
from the cluster's arbiter (``hpsearch.service``), asked every step without waiting; alone on
the cluster it gets every CPU, so the difference to the plain variants is the arbiter's cost.

Ray is started once (2 CPUs) and shared by the Ray-based engines, so their search times exclude
Ray's start; before each engine runs, the benchmark waits until the machine is quiet (under 15%
CPU) and all of Ray's CPUs are free, so no engine pays for the previous one's leftovers; "time to
first result" is measured separately in a fresh process, start included.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

STUDY = """# benchmark workload
[study]
name = "{name}"
seed = {seed}
n_trials = {n_trials}
[dataset]
name = "digits"
[space]
num_epochs = {epochs}
batch_size = 64
learning_rate = {{ low = 1e-4, high = 1e-1, log = true }}
reg = {{ low = 1e-6, high = 1e-2, log = true }}
hidden_size = {{ low = 32, high = 256 }}
dropout = {{ low = 0.0, high = 0.5 }}
update_rule = {{ choices = ["sgd_momentum", "adam"] }}
[pruner]
name = "{pruner}"
{pruner_options}
"""
# ``[study] reproducible = true``, added under [study] for the reproducible variants
REPRODUCIBLE = "reproducible = true\n"


class _PeakRSS:
    """Peak summed RSS of this process and all its descendants (Ray's processes included)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree_rss(self) -> int:
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                rss[int(entry.name)] = int(stat[21]) * os.sysconf("SC_PAGE_SIZE")
                children.setdefault(int(stat[1]), []).append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
        total, todo = 0, [os.getpid()]
        while todo:
            pid = todo.pop()
            total += rss.get(pid, 0)
            todo.extend(children.get(pid, []))
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss())
            time.sleep(0.05)

    def __enter__(self) -> _PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_busy(window_s: float = 0.5) -> float:
    """Fraction of all CPUs busy over ``window_s`` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    busy0, total0 = sample()
    time.sleep(window_s)
    busy1, total1 = sample()
    return (busy1 - busy0) / max(total1 - total0, 1)


def settle(limit_s: float = 30.0, threshold: float = 0.15) -> float:
    """Wait until the machine is quiet and Ray's CPUs are all free again.

    Ray Tune's trial actors release their CPUs, and their processes exit, for seconds after
    ``fit`` returns; whoever runs next would pay for them. Returns the seconds waited.
    """
    import ray

    def ray_busy() -> bool:
        if not ray.is_initialized():
            return False
        return ray.available_resources().get("CPU", 0) < ray.cluster_resources().get("CPU", 0)

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit_s and (ray_busy() or _cpu_busy() > threshold):
        pass
    if ray.is_initialized():
        # Tune's trial actors took worker processes with them when they exited: start two plain
        # workers again, as the warm-up did, so the next engine finds the pool it was timed with.
        # (Both at once, long enough to need two processes.)
        pause = ray.remote(num_cpus=1)(lambda: time.sleep(0.2))
        ray.get([pause.remote() for _ in range(2)])
    return time.perf_counter() - t0


def _config(tmp: Path, name: str, seed: int, n_trials: int, epochs: int, pruner: str,
            reproducible: bool = False):
    from hpsearch.study import load_study_config

    options = "n_startup_trials = 5\nn_warmup_steps = 5" if pruner == "median" else ""
    path = tmp / f"{name}.toml"
    text = STUDY.format(name=name, seed=seed, n_trials=n_trials, epochs=epochs,
                        pruner=pruner, pruner_options=options)
    if reproducible:
        text = text.replace("[dataset]", REPRODUCIBLE + "[dataset]", 1)
    path.write_text(text)
    return load_study_config(path)


def run_hpsearch(tmp: Path, seed: int, n_trials: int, epochs: int, pruner: str,
                 in_flight: int = 2, reproducible: bool = False, arbiter: bool = False) -> dict:
    from hpsearch.search import run_study

    config = _config(tmp, f"hp_{pruner}_{in_flight}_{seed}{'_rep' * reproducible}"
                     f"{'_arb' * arbiter}", seed, n_trials, epochs, pruner, reproducible)
    t0 = time.perf_counter()
    # "auto" with Ray already connected here: the run counts as joining a cluster (its slots
    # from the arbiter) without connecting again
    summary = run_study(config, runs_dir=tmp / "runs", max_in_flight=in_flight, progress=False,
                        address="auto" if arbiter else None)
    wall = time.perf_counter() - t0
    engine = summary.engine
    return {"wall_s": wall, "efficiency": summary.efficiency, "best": summary.best_value,
            "trial_s": summary.trial_s, "n_pruned": summary.n_pruned,
            "ask_ms": 1e3 * engine["ask_s"] / max(engine["n_ask"], 1),
            "tell_ms": 1e3 * engine["tell_s"] / max(engine["n_tell"], 1),
            "report_ms": 1e3 * engine["report_s"] / max(engine["n_report"], 1)}


def _objective_factory(config, dataset, durations: list[float]):
    from hpsearch.study import resolve_params, suggest_params
    from hpsearch.training import fit

    def objective(trial):
        params = resolve_params(suggest_params(trial, config.space), config.space)
        t0 = time.perf_counter()
        _, solver = fit(params, dataset.as_solver_data(), dataset.input_shape,
                        dataset.num_classes, trial.number)
        durations.append(time.perf_counter() - t0)
        return solver.best_val_acc

    return objective


def run_optuna(tmp: Path, seed: int, n_trials: int, epochs: int, n_jobs: int) -> dict:
    import optuna

    from hpsearch.datasets import load_dataset

    config = _config(tmp, f"optuna_{n_jobs}_{seed}", seed, n_trials, epochs, "none")
    dataset = load_dataset("digits", seed=seed)
    durations: list[float] = []
    storage = f"sqlite:///{tmp / f'optuna_{n_jobs}_{seed}.db'}"
    study = optuna.create_study(direction="maximize", storage=storage,
                                sampler=optuna.samplers.TPESampler(seed=seed))
    t0 = time.perf_counter()
    study.optimize(_objective_factory(config, dataset, durations), n_trials=n_trials,
                   n_jobs=n_jobs)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "efficiency": sum(durations) / (wall * n_jobs),
            "best": study.best_value, "trial_s": sum(durations)}


def _tune_space(trial) -> None:
    # The same space as STUDY, define-by-run (module level: Tune pickles its searcher).
    trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
    trial.suggest_float("reg", 1e-6, 1e-2, log=True)
    trial.suggest_int("hidden_size", 32, 256)
    trial.suggest_float("dropout", 0.0, 0.5)
    trial.suggest_categorical("update_rule", ["sgd_momentum", "adam"])


def run_tune(tmp: Path, seed: int, n_trials: int, epochs: int) -> dict:
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from hpsearch.datasets import load_dataset
    from hpsearch.study import resolve_params
    from hpsearch.training import fit

    config = _config(tmp, f"tune_{seed}", seed, n_trials, epochs, "none")
    dataset = load_dataset("digits", seed=seed)

    def trainable(params, data=None):
        full = resolve_params(params, config.space)
        t0 = time.perf_counter()

        def on_epoch(epoch, train_acc, val_acc, loss):
            tune.report({"val_acc": val_acc, "epoch": epoch})

        _, solver = fit(full, data.as_solver_data(), data.input_shape, data.num_classes, 0,
                        epoch_callback=on_epoch)
        tune.report({"val_acc": solver.best_val_acc, "trial_s": time.perf_counter() - t0,
                     "done_best": solver.best_val_acc})

    search = OptunaSearch(space=_tune_space, metric="val_acc", mode="max", seed=seed)
    tuner = tune.Tuner(
        tune.with_parameters(trainable, data=dataset),
        tune_config=tune.TuneConfig(search_alg=search, num_samples=n_trials,
                                    max_concurrent_trials=2, metric="val_acc", mode="max"),
        run_config=tune.RunConfig(storage_path=str(tmp / "tune"), name=f"tune_{seed}",
                                  verbose=0),
    )
    t0 = time.perf_counter()
    results = tuner.fit()
    wall = time.perf_counter() - t0
    frame = results.get_dataframe()
    trial_s = float(frame["trial_s"].sum())
    return {"wall_s": wall, "efficiency": trial_s / (wall * 2),
            "best": float(frame["done_best"].max()), "trial_s": trial_s}


def first_result_fresh(tmp: Path, seed: int) -> float:
    """Seconds from a fresh process calling run_study (Ray start included) to the first result."""
    code = (
        "import json, sys; from pathlib import Path;"
        "from hpsearch.study import load_study_config; from hpsearch.search import run_study;"
        f"c = load_study_config({str(tmp / 'first.toml')!r});"
        f"s = run_study(c, runs_dir=Path({str(tmp / 'first_runs')!r}), progress=False);"
        "print(json.dumps({'first': s.first_result_s}))"
    )
    _config(tmp, "first", seed, 4, 20, "none").source.rename(tmp / "first.toml")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["first"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--skip-tune", action="store_true")
    parser.add_argument("--engines", nargs="*", metavar="WORDS",
                        help="run only the engines whose names contain one of these")
    parser.add_argument("--in-flight", type=int, default=2,
                        help="Ray's CPUs and hpsearch's window (a control: 1 leaves the driver a "
                        "core of its own on a 2-core machine)")
    args = parser.parse_args()

    import optuna
    import ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ep, k = args.epochs, args.in_flight
    engines = {
        "hpsearch (no pruning)": lambda t, s, n: run_hpsearch(t, s, n, ep, "none", k),
        "hpsearch (median pruning)": lambda t, s, n: run_hpsearch(t, s, n, ep, "median", k),
        "hpsearch reproducible (no pruning)":
            lambda t, s, n: run_hpsearch(t, s, n, ep, "none", k, reproducible=True),
        "hpsearch reproducible (median pruning)":
            lambda t, s, n: run_hpsearch(t, s, n, ep, "median", k, reproducible=True),
        "hpsearch arbiter (no pruning)":
            lambda t, s, n: run_hpsearch(t, s, n, ep, "none", k, arbiter=True),
        "hpsearch arbiter (median pruning)":
            lambda t, s, n: run_hpsearch(t, s, n, ep, "median", k, arbiter=True),
        "optuna n_jobs=1": lambda t, s, n: run_optuna(t, s, n, ep, 1),
        "optuna n_jobs=2": lambda t, s, n: run_optuna(t, s, n, ep, 2),
    }
    if not args.skip_tune:
        engines["ray tune + OptunaSearch"] = lambda t, s, n: run_tune(t, s, n, ep)
    if args.engines:
        engines = {name: run for name, run in engines.items()
                   if name == "hpsearch (no pruning)" or any(w in name for w in args.engines)}
    results: dict[str, list[dict]] = {name: [] for name in engines}
    firsts: list[float] = []
    peaks: list[float] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for rep in range(args.repeats):
            (tmp / f"first{rep}").mkdir()
            with _PeakRSS() as rss:
                baseline = rss._tree_rss()  # this benchmark process alone
                firsts.append(first_result_fresh(tmp / f"first{rep}", rep))
            peaks.append((rss.peak - baseline) / 2**20)
        ray.init(address="local", num_cpus=k, include_dashboard=False, log_to_driver=False)
        # Warm-up, not measured: Ray's worker processes start and import the training code.
        (tmp / "warmup").mkdir()
        for run in engines.values():
            run(tmp / "warmup", 100, 4)
        for rep in range(args.repeats):  # interleaved, so load from elsewhere hits all alike
            for name, run in engines.items():
                waited = settle()
                results[name].append(run(tmp, rep, args.trials))
                print(f"rep {rep} {name} (after {waited:.1f} s settling): {results[name][-1]}",
                      file=sys.stderr)
        ray.shutdown()

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    base = med("hpsearch (no pruning)", "wall_s")
    print(f"\n{args.trials} trials x {args.epochs} epochs on digits, {k} in flight (hpsearch), "
          f"median of {args.repeats} (wall excludes Ray's start)\n")
    print("| engine | wall s | vs hpsearch | efficiency | best val acc | trial s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in engines:
        print(f"| {name} | {med(name, 'wall_s'):.2f} | {med(name, 'wall_s') / base:.2f}x | "
              f"{med(name, 'efficiency'):.1%} | {med(name, 'best'):.4f} | "
              f"{med(name, 'trial_s'):.2f} |")
    hp = results["hpsearch (no pruning)"]
    print(f"\nhpsearch driver costs (median): ask {statistics.median(r['ask_ms'] for r in hp):.1f}"
          f" ms/trial, tell {statistics.median(r['tell_ms'] for r in hp):.1f} ms/trial, "
          "report handling "
          f"{statistics.median(r['report_ms'] for r in results['hpsearch (median pruning)']):.2f}"
          " ms/epoch (with pruning)")
    print(f"time from run_study() in a fresh process to the first result (Ray start included): "
          f"median {statistics.median(firsts):.1f} s")
    print("peak RSS of a fresh run_study process tree (driver + Ray's processes + workers): "
          f"median {statistics.median(peaks):.0f} MiB")


if __name__ == "__main__":
    main()
