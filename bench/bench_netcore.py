"""Benchmark netcore's training step against PyTorch CPU, matmul peak and scikit-learn.

Run (one BLAS thread; torch only for this benchmark: ``pip install torch==2.13.0``):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
        python bench/bench_netcore.py

Every figure is the median over ``--repeats`` repetitions; within a repetition the contenders
run back to back, so ratios compare like with like even on a loaded machine. Without torch the
netcore rows still run (the torch columns read n/a). ``--steps-only`` skips the digits-epoch
comparison with scikit-learn.

A/B against an earlier netcore: ``--baseline FILE`` times the same steps with the models of
another ``models.py`` (e.g. ``git show REV:netcore/models.py > /tmp/models_before.py``) back to
back with today's. On a loaded machine ``--clock cpu`` measures the thread's CPU time instead of
wall time, so that time spent waiting for a core is not counted.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import netcore as nc

CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
_clock = CLOCKS["wall"]


def _per_call(fn, n_calls: int) -> float:
    t = _clock()
    for _ in range(n_calls):
        fn()
    return (_clock() - t) / n_calls


def _median_times(contenders: dict, n_calls: int, repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for fn in contenders.values():  # warm up
        _per_call(fn, max(n_calls // 5, 2))
    items = list(contenders.items())
    for r in range(repeats):
        for name, fn in items if r % 2 == 0 else items[::-1]:  # ABBA: drift hits all alike
            times[name].append(_per_call(fn, n_calls))
    return {k: statistics.median(v) for k, v in times.items()}


def matmul_peak(repeats: int) -> float:
    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((1024, 1024), dtype=np.float32)
    out = np.empty_like(a)
    t = _median_times({"mm": lambda: np.matmul(a, b, out=out)}, 5, repeats)["mm"]
    return 2 * 1024**3 / t / 1e9


def _netcore_step(model, rule, X, y, lr):
    # The Solver's own step (loss, gradients, update) on a fixed minibatch: with a built-in
    # rule all parameters are updated as one flat array, as in training.
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    solver = nc.Solver(model, data, update_rule=rule, optim_config={"learning_rate": lr})
    return lambda: solver._step(X, y)


def _matmul_only(X, W1, W2, N, C):
    # The five products a step needs: two forward, dW2, dh, dW1 (no dX).
    h = np.maximum(X @ W1, 0)
    d = np.random.default_rng(0).standard_normal((N, C), dtype=np.float32)

    def run():
        a = X @ W1
        s = a @ W2
        _ = a.T @ d
        dh = d @ W2.T
        _ = X.T @ dh
        return s

    del h
    return run


def _torch_step(torch, D, H, C, X, y, rule, lr, net_kwargs):
    hidden = [torch.nn.Linear(D, H)]
    if net_kwargs.get("normalization") == "batchnorm":
        hidden.append(torch.nn.BatchNorm1d(H))
    hidden.append(torch.nn.ReLU())
    if net_kwargs.get("dropout"):
        hidden.append(torch.nn.Dropout(net_kwargs["dropout"]))
    net = torch.nn.Sequential(*hidden, torch.nn.Linear(H, C))
    opt = (torch.optim.SGD if rule == "sgd" else torch.optim.Adam)(net.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(Xt), yt)
        loss.backward()
        opt.step()

    return step


#: The nets whose step is timed: the plain ReLU net (netcore's fast path) and one with dropout
#: and batchnorm (the general path, built from the layer functions).
NETS = {
    "": {},
    ", dropout 0.5 + batchnorm": {"dropout": 0.5, "normalization": "batchnorm"},
}


def make_net(D: int, H: int, C: int, net_kwargs: dict, models=nc.models):
    """The benchmarked float32 net (hpsearch trains in float32; TwoLayerNet defaults to float64)."""
    if not net_kwargs:
        return models.TwoLayerNet(D, H, C, weight_scale="he", dtype=np.float32, seed=0)
    return models.FullyConnectedNet(
        [H], input_dim=D, num_classes=C, weight_scale="he", dtype=np.float32, seed=0,
        **net_kwargs,
    )  # fmt: skip


def load_models(path: str):
    """The ``models`` module of an earlier netcore, loaded from a copy of its ``models.py``."""
    spec = importlib.util.spec_from_file_location("baseline_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_steps(torch, repeats: int, peak: float, baseline=None) -> list[tuple]:
    rows = []
    rng = np.random.default_rng(0)
    for label, D, H, C, N, n_calls in (
        ("CIFAR 3072-100-10, batch 200", 3072, 100, 10, 200, 60),
        ("digits 64-128-10, batch 64", 64, 128, 10, 64, 3000),
    ):
        X = rng.standard_normal((N, D), dtype=np.float32)
        y = rng.integers(C, size=N)
        flops = 3 * 2 * N * (D * H + H * C)  # a step counted as 3x the forward pass
        for (net_label, net_kwargs), (rule, lr) in itertools.product(
            NETS.items(), (("sgd", 1e-3), ("adam", 1e-4))
        ):
            model = make_net(D, H, C, net_kwargs)
            contenders = {"netcore": _netcore_step(model, rule, X, y, lr)}
            if baseline is not None:
                old = make_net(D, H, C, net_kwargs, baseline)
                contenders["baseline"] = _netcore_step(old, rule, X, y, lr)
            if torch is not None:
                contenders["torch"] = _torch_step(torch, D, H, C, X, y, rule, lr, net_kwargs)
            contenders["matmul"] = _matmul_only(X, model.params["W1"], model.params["W2"], N, C)
            t = _median_times(contenders, n_calls, repeats)
            rows.append(
                (
                    label + net_label,
                    rule,
                    t["netcore"],
                    t.get("torch"),
                    t["matmul"],
                    flops / t["netcore"] / 1e9,
                    flops / t["netcore"] / 1e9 / peak,
                    t.get("baseline"),
                )
            )
    return rows


# Matched optimizer settings: netcore rule and its config, sklearn MLPClassifier's.
EPOCH_RULES = {
    "adam": ("adam", {"learning_rate": 1e-3},
             {"solver": "adam", "learning_rate_init": 1e-3}),
    "nesterov": ("nesterov", {"learning_rate": 1e-2, "momentum": 0.9},
                 {"solver": "sgd", "learning_rate": "constant", "learning_rate_init": 1e-2,
                  "momentum": 0.9, "nesterovs_momentum": True}),
}


def bench_mlp_epoch(repeats: int, rule: str = "adam",
                    n_epochs: int = 20) -> tuple[float, float, int, float]:
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    Xtr, ytr, Xva, yva = X[:1437], y[:1437], X[1437:], y[1437:]

    def run_netcore():
        model = nc.TwoLayerNet(64, 128, 10, weight_scale="he", dtype=np.float32, seed=0)
        nc.Solver(
            model,
            {"X_train": Xtr, "y_train": ytr, "X_val": Xva, "y_val": yva},
            update_rule=EPOCH_RULES[rule][0],
            optim_config=dict(EPOCH_RULES[rule][1]),
            batch_size=64,
            num_epochs=n_epochs,
            seed=0,
            verbose=False,
        ).train()

    def run_sklearn():
        clf = MLPClassifier(
            hidden_layer_sizes=(128,),
            activation="relu",
            alpha=0.0,
            batch_size=64,
            max_iter=n_epochs,
            shuffle=True,
            tol=0.0,
            n_iter_no_change=10**6,
            random_state=0,
            **EPOCH_RULES[rule][2],
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(Xtr, ytr)

    # What the Solver's two per-epoch accuracy checks cost (sklearn does no such checks).
    model = nc.TwoLayerNet(64, 128, 10, weight_scale="he", dtype=np.float32, seed=0)
    data = {"X_train": Xtr, "y_train": ytr, "X_val": Xva, "y_val": yva}
    solver = nc.Solver(model, data, seed=0, verbose=False)

    def run_checks():
        solver.check_accuracy(Xtr, ytr, solver.num_train_samples)
        solver.check_accuracy(Xva, yva, solver.num_val_samples)

    t = _median_times({"netcore": run_netcore, "sklearn": run_sklearn}, 1, repeats)
    t_checks = _median_times({"checks": run_checks}, 20, repeats)["checks"]
    return t["netcore"] / n_epochs, t["sklearn"] / n_epochs, n_epochs, t_checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--steps-only", action="store_true", help="skip the digits epoch against scikit-learn"
    )
    parser.add_argument(
        "--baseline", metavar="FILE", help="an earlier netcore/models.py to time side by side"
    )
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="wall",
        help="wall time (default) or this thread's CPU time (for a loaded machine)",
    )  # fmt: skip
    args = parser.parse_args()
    global _clock
    _clock = CLOCKS[args.clock]
    baseline = load_models(args.baseline) if args.baseline else None
    try:
        import torch

        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
    except ImportError:
        torch = None
    with threadpool_limits(1):
        blas = [
            (i["internal_api"], i.get("architecture"), i["num_threads"]) for i in threadpool_info()
        ]
        print(
            f"python {platform.python_version()}, numpy {np.__version__}, "
            f"torch {getattr(torch, '__version__', 'not installed')}, cpu {platform.processor()}"
        )
        print(f"BLAS (api, kernel, threads): {blas}")
        print(
            f"env OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')} "
            f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE')} "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
        )
        peak = matmul_peak(args.repeats)
        print(f"clock: {args.clock}; baseline models: {args.baseline or 'none'}")
        print(f"\nsingle-thread float32 matmul peak (1024^3 sgemm): {peak:.1f} GFLOP/s\n")
        rows = bench_steps(torch, args.repeats, peak, baseline)
        extra = " baseline step | step / baseline |" if baseline else ""
        print(
            "| shape | rule | netcore step | torch step | speed-up vs torch "
            f"| matmuls only | step / matmuls | GFLOP/s | % of peak |{extra}"
        )
        print("|---|---|---|---|---|---|---|---|---|" + "---|---|" * bool(baseline))
        for label, rule, t_nc, t_t, t_mm, gflops, frac, t_base in rows:
            speedup = f"{t_t / t_nc:.2f}x" if t_t else "n/a"
            torch_cell = f"{t_t * 1e6:.0f} us" if t_t else "n/a"
            base = f" {t_base * 1e6:.0f} us | {t_nc / t_base:.3f} |" if t_base else ""
            print(
                f"| {label} | {rule} | {t_nc * 1e6:.0f} us | {torch_cell} | {speedup} | "
                f"{t_mm * 1e6:.0f} us | {t_nc / t_mm:.2f}x | {gflops:.1f} | {100 * frac:.0f}% |"
                f"{base}"
            )
        if args.steps_only:
            return
        print(
            "\ndigits epoch (1437 rows, 64-128-10, batch 64, 20 epochs, matched optimizer "
            "settings; netcore includes its per-epoch accuracy checks):"
        )
        print(
            "| rule (netcore / sklearn) | netcore Solver epoch | of which accuracy checks "
            "| sklearn MLPClassifier epoch | speed-up |"
        )
        print("|---|---|---|---|---|")
        for rule in EPOCH_RULES:
            t_nc, t_sk, _, t_chk = bench_mlp_epoch(args.repeats, rule)
            sk = EPOCH_RULES[rule][2]
            sk_label = sk["solver"] + (" + nesterov momentum" if sk.get("nesterovs_momentum")
                                       else "")
            print(
                f"| {rule} / {sk_label} | {t_nc * 1e3:.2f} ms | {t_chk * 1e3:.2f} ms "
                f"| {t_sk * 1e3:.2f} ms | {t_sk / t_nc:.2f}x |"
            )


if __name__ == "__main__":
    main()
