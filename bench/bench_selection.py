"""Honest selection: single validation split against k-fold cross-validation, refit and ensemble.

For each study seed, every variant runs the same search space (the default study's, or
``--default``'s) with the same number of trials, side by side, through
``hpsearch.search.run_study`` + ``hpsearch.results.after_search`` (one Ray instance for the
whole invocation, 2 CPUs). For each run: the chosen configuration's estimate (its value: mean
over folds with CV), the test accuracy of the model the variant tests (the trial's own model, or
the refit on all non-test data), the ensemble's test accuracy when the variant asks for one, the
gap estimate - test, the trials' summed CPU seconds
(``duration_s``: training only) and the wall seconds of search + refit + evaluation.

    OMP_NUM_THREADS=1 python bench/bench_selection.py --seeds 0 1 2 3 4
    OMP_NUM_THREADS=1 python bench/bench_selection.py --seeds 0 --variants single cv5 --trials 20

The whole `hpsearch run studies/digits.toml` (Ray start included) is timed separately with
``--cli N`` (N runs of the command, median printed). ``--variants default reproducible`` sets
the default study beside itself with ``[study] reproducible = true``: the search's wall time and
dispatch efficiency say what reproducibility costs (``reproducible-lag2``,
``reproducible-lag6``: with ``reproducible_lag = 2`` or 6). ``--variants objectives`` runs the
default study with ``[study] objectives`` (accuracy, parameter count) and ``[selection] rule =
"one_se"``: the one-standard-error choice and the most accurate trial are both refit and tested,
and the table sets their test accuracy and parameter count side by side.

    OMP_NUM_THREADS=1 python bench/bench_selection.py --seeds 0 1 2 3 4 --variants objectives
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "studies" / "digits.toml"



def _space(default: Path) -> str:
    """The shared search space: the default study's [space] table, whatever it is now."""
    return re.search(r"^\[space\]\n(.*?)(?=^\[)", default.read_text(), re.S | re.M).group(1)


_HEAD = """[study]
name = "{name}"
seed = {seed}
n_trials = {trials}

[dataset]
name = "digits"

[space]
{space}
[sampler]
name = "tpe"
n_startup_trials = 10
"""
_MEDIAN = """
[pruner]
name = "median"
n_startup_trials = 8
n_warmup_steps = 5
"""

VARIANTS: dict[str, str] = {
    # the selection of today's default study: one 300-example validation split, median pruning
    # per epoch, the trial's own model tested
    "single": _MEDIAN,
    "single+refit": _MEDIAN + "\n[selection]\nrefit = true\n",
    "cv5": "\n[pruner]\nname = \"none\"\n\n[selection]\nfolds = 5\n",
    "cv5+wilcoxon": ("\n[pruner]\nname = \"wilcoxon\"\np_threshold = 0.3\n\n[selection]\n"
                     "folds = 5\n"),
    # median of the completed trials' value at the same fold: most stop after their first fold
    "cv5+median": ("\n[pruner]\nname = \"median\"\nn_startup_trials = 5\nn_warmup_steps = 0\n"
                   "\n[selection]\nfolds = 5\n"),
    "cv5+wilcoxon+ens3": ("\n[pruner]\nname = \"wilcoxon\"\np_threshold = 0.3\n\n[selection]\n"
                          "folds = 5\nensemble = 3\n"),
    "cv3+wilcoxon+ens3": ("\n[pruner]\nname = \"wilcoxon\"\np_threshold = 0.3\n\n[selection]\n"
                          "folds = 3\nensemble = 3\n"),
    "default": "",  # studies/digits.toml as shipped (only its seed changed)
    "reproducible": "",  # the same with [study] reproducible = true
    "reproducible-lag2": "",  # ... with reproducible_lag = 2 (the default lag is 2 x workers)
    "reproducible-lag6": "",  # ... with reproducible_lag = 6
    # the same with accuracy and parameter count as objectives, chosen by one standard error
    "objectives": "",
    # ... with widths searched on a log scale from 8 (small nets as likely as large ones)
    "objectives-wide": "",
    # ... with first-fold pruning only (no Wilcoxon across folds: more complete candidates)
    "objectives-nowilcoxon": "",
    # ... with no pruning at all: every trial completes its five folds, every one a candidate
    "objectives-full": "",
}
_OBJECTIVES = 'objectives = { val_accuracy = "maximize", n_params = "minimize" }'
_DERIVED = ("default", "reproducible", "reproducible-lag2",
            "reproducible-lag6", "objectives", "objectives-wide",
            "objectives-nowilcoxon", "objectives-full")


def study_text(variant: str, seed: int, trials: int, default: Path = DEFAULT) -> str:
    if variant in _DERIVED:
        text = default.read_text()
        extra = {"reproducible": "\nreproducible = true",
                 "reproducible-lag2": "\nreproducible = true\nreproducible_lag = 2",
                 "reproducible-lag6": "\nreproducible = true\nreproducible_lag = 6"}
        if variant.startswith("objectives"):
            extra[variant] = "\n" + _OBJECTIVES
        text = re.sub(r"^seed = \d+", f"seed = {seed}" + extra.get(variant, ""), text, count=1,
                      flags=re.M)
        if variant == "objectives-wide":
            wide = "hidden_size = { low = 8, high = 256, log = true }"
            text = re.sub(r"^hidden_size = .*$", wide, text, count=1, flags=re.M)
        if variant == "objectives-full":
            text = re.sub(r"^first_fold_pruning = true\n", "", text, count=1, flags=re.M)
        if variant in ("objectives-nowilcoxon", "objectives-full"):
            text = re.sub(r'^name = "wilcoxon"\n', 'name = "none"\n', text, count=1, flags=re.M)
            text = re.sub(r"^p_threshold = .*\n", "", text, count=1, flags=re.M)
        if variant.startswith("objectives"):
            text = re.sub(r"^\[selection\]\n", '[selection]\nrule = "one_se"\n', text,
                          count=1, flags=re.M)
        return re.sub(r'^name = "digits"', f'name = "{variant}-{seed}"', text, count=1,
                      flags=re.M)
    name = f"{variant.replace('+', '-')}-{seed}"
    return (_HEAD.format(name=name, seed=seed, trials=trials, space=_space(default))
            + VARIANTS[variant])


def run_one(variant: str, seed: int, trials: int, runs_dir: Path, default: Path = DEFAULT
            ) -> dict:
    from hpsearch.results import after_search, summary_facts
    from hpsearch.search import run_study
    from hpsearch.study import find_study, parse_study_config

    config = parse_study_config(study_text(variant, seed, trials, default), f"<{variant}>")
    dataset = config.load_data()
    t0 = time.perf_counter()
    summary = run_study(config, runs_dir=runs_dir, progress=False, dataset=dataset)
    stored = find_study(config.name, runs_dir)
    done = after_search(stored, dataset, write_report=False)
    wall = time.perf_counter() - t0
    ev = done.evaluation
    facts = summary_facts(stored.study, config)
    ens = ev.ensemble
    ens_test = None if ens is None else ens.test.accuracy
    ens_estimate = None if ens is None or ens.estimate is None else ens.estimate.accuracy
    return {"variant": variant, "seed": seed, "estimate": ev.estimate.value,
            "test": ev.test.accuracy, "ensemble": ens_test, "ens_estimate": ens_estimate,
            "ens_gap": None if ens_estimate is None else ens_estimate - ens_test,
            "gap": ev.estimate.value - ev.test.accuracy, "n_tied": ev.estimate.n_tied,
            "cpu_s": facts["cpu_s"], "epochs": facts["epochs_run"],
            "pruned": facts["by_state"]["pruned"], "wall_s": wall,
            "search_s": summary.wall_s, "efficiency": summary.efficiency,
            "params": _n_params(stored, ev.trial.number), **_choice(ev)}


def _n_params(stored, number: int) -> float | None:
    """The tested configuration's parameter count (as its trial measured it)."""
    from hpsearch.results import trial_cost

    trial = next(t for t in stored.study.get_trials(deepcopy=False) if t.number == number)
    return trial_cost(trial, "n_params")


def _choice(ev) -> dict:
    """The one-SE choice against the most accurate: test accuracy and cost of each."""
    c = ev.choice
    if c is None or c.rule != "one_se":
        return {}
    best_test = ev.test.accuracy if c.most_accurate_test is None else c.most_accurate_test.accuracy
    return {"chosen": c.trial, "most_accurate": c.most_accurate, "chosen_cost": c.chosen_cost,
            "best_cost": c.most_accurate_cost, "best_test": best_test, "n_within": c.n_within}


def _against_default(rows: list[dict], variants: list[str]) -> None:
    """Each variant's tested configuration against the default study's, seed by seed."""
    base = {x["seed"]: x for x in rows if x["variant"] == "default"}
    for variant in variants:
        r = [x for x in rows if x["variant"] == variant and x["seed"] in base]
        if variant == "default" or not r or any(x["params"] is None for x in r):
            continue
        print(f"\n{variant} against default (accuracy alone, the most accurate tested), "
              "seed by seed\n")
        print("| seed | test: default | test: " + variant + " | parameters: default | "
              "parameters: " + variant + " | ratio |")
        print("|---|---|---|---|---|---|")
        for x in r:
            b = base[x["seed"]]
            print(f"| {x['seed']} | {b['test']:.4f} | {x['test']:.4f} | {b['params']:.0f} | "
                  f"{x['params']:.0f} | {x['params'] / b['params']:.2f} |")
        print(f"| mean | {statistics.mean(base[x['seed']]['test'] for x in r):.4f} | "
              f"{statistics.mean(x['test'] for x in r):.4f} | "
              f"{statistics.mean(base[x['seed']]['params'] for x in r):.0f} | "
              f"{statistics.mean(x['params'] for x in r):.0f} | "
              f"{statistics.mean(x['params'] / base[x['seed']]['params'] for x in r):.2f} |")


def _choice_table(rows: list[dict], variants: list[str]) -> None:
    for variant in variants:
        r = [x for x in rows if x["variant"] == variant and "chosen" in x]
        if not r:
            continue
        print(f"\n{variant}: the one-standard-error choice against the most accurate trial\n")
        print("| seed | chosen (trial) | most accurate (trial) | within 1 SE | test: chosen | "
              "test: most accurate | cost: chosen | cost: most accurate | cost ratio |")
        print("|---|---|---|---|---|---|---|---|---|")
        for x in r:
            print(f"| {x['seed']} | {x['chosen']} | {x['most_accurate']} | {x['n_within']} | "
                  f"{x['test']:.4f} | {x['best_test']:.4f} | {x['chosen_cost']:.0f} | "
                  f"{x['best_cost']:.0f} | {x['chosen_cost'] / x['best_cost']:.2f} |")
        print(f"| mean | | | | {statistics.mean(x['test'] for x in r):.4f} | "
              f"{statistics.mean(x['best_test'] for x in r):.4f} | "
              f"{statistics.mean(x['chosen_cost'] for x in r):.0f} | "
              f"{statistics.mean(x['best_cost'] for x in r):.0f} | "
              f"{statistics.mean(x['chosen_cost'] / x['best_cost'] for x in r):.2f} |")


def cli_runs(n: int, default: Path = DEFAULT) -> list[float]:
    times = []
    for _ in range(n):
        runs = Path(tempfile.mkdtemp(prefix="bench-sel-cli-"))
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hpsearch", "run", str(default), "--runs-dir",
                        str(runs), "--no-progress"], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
        shutil.rmtree(runs, ignore_errors=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--cli", type=int, default=0, help="time `hpsearch run` N times")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the studies under DIR/<variant>-<seed>/ (default: removed)")
    parser.add_argument("--default", type=Path, default=DEFAULT, metavar="STUDY.toml",
                        help="the study file the 'default' variant and --cli run (a candidate "
                        "for the default study; only its seed and name are changed)")
    args = parser.parse_args()
    if not args.default.is_file():
        parser.error(f"--default {args.default}: no such study file")
    if args.keep is not None and args.keep.exists() and (
            not args.keep.is_dir() or any(args.keep.iterdir())):
        parser.error(f"--keep {args.keep}: expected a new or empty directory (studies already "
                     "there would be resumed, not run again)")
    warnings.filterwarnings("ignore")
    logging.getLogger("hpsearch").setLevel(logging.ERROR)
    import optuna
    import ray

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rows = []
    if args.variants and args.seeds:
        for attempt in range(3):  # a shared, loaded machine: Ray's start may time out
            try:
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
                break
            except Exception:
                if attempt == 2:
                    raise
                time.sleep(5)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
        runs_dir = args.keep or Path(tempfile.mkdtemp(prefix="bench-sel-"))
        try:
            for seed in args.seeds:  # variants side by side within each seed
                for variant in args.variants:
                    row = run_one(variant, seed, args.trials, runs_dir, args.default)
                    rows.append(row)
                    print("  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                    for k, v in row.items()), flush=True)
        finally:
            ray.shutdown()
            if not args.keep:
                shutil.rmtree(runs_dir, ignore_errors=True)
    if rows:
        print("\n| variant | mean test | worst test | mean ensemble | mean estimate | "
              "mean abs gap | max abs gap | median CPU s | median wall s |")
        print("|---|---|---|---|---|---|---|---|---|")
        for variant in args.variants:
            r = [x for x in rows if x["variant"] == variant]
            ens = [x["ensemble"] for x in r if x["ensemble"] is not None]
            print(f"| {variant} | {statistics.mean(x['test'] for x in r):.4f} | "
                  f"{min(x['test'] for x in r):.4f} | "
                  f"{statistics.mean(ens):.4f} | " if ens else
                  f"| {variant} | {statistics.mean(x['test'] for x in r):.4f} | "
                  f"{min(x['test'] for x in r):.4f} | - | ", end="")
            print(f"{statistics.mean(x['estimate'] for x in r):.4f} | "
                  f"{statistics.mean(abs(x['gap']) for x in r):.4f} | "
                  f"{max(abs(x['gap']) for x in r):.4f} | "
                  f"{statistics.median(x['cpu_s'] for x in r):.1f} | "
                  f"{statistics.median(x['wall_s'] for x in r):.1f} |")
        for variant in args.variants:
            r = [x for x in rows if x["variant"] == variant and x["ens_gap"] is not None]
            if r:
                print(f"\n{variant}: ensemble estimate (out of fold) mean "
                      f"{statistics.mean(x['ens_estimate'] for x in r):.4f}, mean abs gap "
                      f"{statistics.mean(abs(x['ens_gap']) for x in r):.4f}, max abs gap "
                      f"{max(abs(x['ens_gap']) for x in r):.4f} ({len(r)} runs)")
        for variant in args.variants:
            r = [x for x in rows if x["variant"] == variant]
            print(f"{variant}: search wall s median "
                  f"{statistics.median(x['search_s'] for x in r):.1f}, dispatch efficiency median "
                  f"{100 * statistics.median(x['efficiency'] for x in r):.1f}%")
        sums = {v: (sum(x["epochs"] for x in rows if x["variant"] == v),
                    sum(x["cpu_s"] for x in rows if x["variant"] == v)) for v in args.variants}
        if "single" in sums and sums["single"][0]:
            for variant, (epochs, cpu) in sums.items():
                if variant != "single":
                    print(f"{variant} / single over these seeds: epochs "
                          f"{epochs / sums['single'][0]:.2f}x, CPU s "
                          f"{cpu / sums['single'][1]:.2f}x")
        _choice_table(rows, args.variants)
        _against_default(rows, args.variants)
    if args.cli:
        times = cli_runs(args.cli, args.default)
        print(f"\n`hpsearch run {args.default.name}`: median {statistics.median(times):.1f} s "
              f"over {len(times)} runs ({', '.join(f'{t:.1f}' for t in times)})")


if __name__ == "__main__":
    main()
