"""Benchmark a netcore ConvNet training step against PyTorch CPU, with a per-layer breakdown.

Architecture (MNIST size, batch 64, float32): conv 5x5 x 32 (pad 2) - relu - 2x2 pool -
conv 5x5 x 64 (pad 2) - relu - 2x2 pool - fc 3136 -> 256 - relu - fc 256 -> 10 - softmax.

Run (one BLAS thread; torch only for this benchmark: ``pip install torch==2.13.0``):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
        python bench/bench_cnn.py

Every figure is the median over ``--repeats`` repetitions; within a repetition the contenders
run back to back, so ratios compare like with like even on a loaded machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import netcore as nc
from netcore import conv_layers as cl
from netcore._common import _softmax_loss  # the unchecked kernel the models call
from netcore.cnn import ConvNet

N, IMAGE, FILTERS, KERNEL, HIDDEN, CLASSES = 64, (1, 28, 28), (32, 64), 5, 256, 10
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def _per_call(fn, n_calls: int) -> float:
    t = time.perf_counter()
    for _ in range(n_calls):
        fn()
    return (time.perf_counter() - t) / n_calls


def _median_times(contenders: dict, n_calls: int, repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for fn in contenders.values():  # warm up
        _per_call(fn, 2)
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name].append(_per_call(fn, n_calls))
    return {k: statistics.median(v) for k, v in times.items()}


def _data():
    rng = np.random.default_rng(0)
    X = rng.random((N, *IMAGE), dtype=np.float32)
    y = rng.integers(CLASSES, size=N)
    return X, y


def _model() -> ConvNet:
    return ConvNet(input_dim=IMAGE, num_filters=FILTERS, filter_size=KERNEL,
                   hidden_dims=(HIDDEN,), num_classes=CLASSES, seed=0)  # fmt: skip


def netcore_step(rule_name: str):
    model = _model()
    X, y = _data()
    rule = nc.get_update_rule(rule_name)
    params = model.params
    configs = {p: {"learning_rate": 1e-3} for p in params}

    def step():
        _, grads = model.loss(X, y)
        for p, w in params.items():
            params[p], configs[p] = rule(w, grads[p], configs[p])

    return step


def torch_step(rule_name: str):
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, FILTERS[0], KERNEL, padding=KERNEL // 2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(FILTERS[0], FILTERS[1], KERNEL, padding=KERNEL // 2), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(FILTERS[1] * 7 * 7, HIDDEN), nn.ReLU(),
        nn.Linear(HIDDEN, CLASSES),
    )  # fmt: skip
    opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[rule_name](net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    Xn, yn = _data()
    X, y = torch.from_numpy(Xn), torch.from_numpy(yn)

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(net(X), y).backward()
        opt.step()

    return step, net, opt, loss_fn, X, y


def netcore_breakdown(repeats: int) -> dict[str, float]:
    """Median time of each piece of one netcore step, run in isolation."""
    model = _model()
    p = model.params
    X, y = _data()
    conv = [{"stride": 1, "pad": KERNEL // 2}] * 2

    # Forward once to get realistic inputs and caches for each piece.
    h1, c1 = cl._conv_norm_relu_pool_forward(X, p["W1"], p["b1"], conv[0], POOL, None)
    h2, c2 = cl._conv_norm_relu_pool_forward(h1, p["W2"], p["b2"], conv[1], POOL, None)
    flat = h2.reshape(N, -1)
    a3, c3 = nc.affine_relu_forward(flat, p["W3"], p["b3"])
    scores, c4 = nc.affine_forward(a3, p["W4"], p["b4"])
    _, dscores = _softmax_loss(scores, y)
    d3, _, _ = nc.affine_backward(dscores, c4)
    dflat, _, _ = nc.affine_relu_backward(d3, c3)
    dh2 = dflat.reshape(h2.shape)
    dh1 = cl._conv_norm_relu_pool_backward(dh2, c2)[0]

    # conv2 internals
    cols2 = cl._im2col(h1, KERNEL, KERNEL, 1, 2, (14, 14), np.float32)
    w2 = p["W2"].transpose(2, 3, 1, 0).reshape(-1, FILTERS[1])
    out2 = cols2 @ w2
    nhwc2 = out2.reshape(N, 14, 14, FILTERS[1])
    _, pool_cache2 = cl._max_pool_forward(nhwc2, 2, 2, 2, (1, 2))
    dpooled2 = np.ascontiguousarray(dh2.transpose(0, 2, 3, 1))
    drows2 = cl._max_pool_backward(dpooled2, pool_cache2).reshape(-1, FILTERS[1])
    dcols2 = w2 @ drows2.T

    rule = nc.get_update_rule("sgd")
    cfg = {"learning_rate": 1e-3}
    grads = model.loss(X, y)[1]

    pieces = {
        "conv1 stage forward (im2col, gemm, pool, relu)": lambda: cl._conv_norm_relu_pool_forward(
            X, p["W1"], p["b1"], conv[0], POOL, None
        ),
        "conv2 stage forward": lambda: cl._conv_norm_relu_pool_forward(
            h1, p["W2"], p["b2"], conv[1], POOL, None
        ),
        "  conv2 im2col (64*14*14 x 800)": lambda: cl._im2col(
            h1, KERNEL, KERNEL, 1, 2, (14, 14), np.float32
        ),
        "  conv2 forward gemm": lambda: cols2 @ w2,
        "  conv2 pool forward (channels-last)": lambda: cl._max_pool_forward(
            nhwc2, 2, 2, 2, (1, 2)
        ),
        "fc forward + softmax": lambda: _softmax_loss(
            nc.affine_forward(
                nc.affine_relu_forward(flat, p["W3"], p["b3"])[0], p["W4"], p["b4"]
            )[0],
            y,
        ),
        "fc backward": lambda: nc.affine_relu_backward(nc.affine_backward(dscores, c4)[0], c3),
        "conv2 stage backward (with dx)": lambda: cl._conv_norm_relu_pool_backward(dh2, c2),
        "  conv2 pool backward": lambda: cl._max_pool_backward(dpooled2, pool_cache2),
        "  conv2 dW gemm": lambda: cols2.T @ drows2,
        "  conv2 dcols gemm": lambda: w2 @ drows2.T,
        "  conv2 col2im": lambda: cl._col2im(
            dcols2, h1.shape, KERNEL, KERNEL, 1, 2, (14, 14)
        ),
        "conv1 stage backward (no dx)": lambda: cl._conv_norm_relu_pool_backward(
            dh1, c1, need_dx=False
        ),
        "sgd update (8 arrays)": lambda: [rule(w, grads[k], dict(cfg)) for k, w in p.items()],
    }  # fmt: skip
    return _median_times(pieces, 5, repeats)


def torch_breakdown(net, opt, loss_fn, X, y) -> list[tuple[str, float, int]]:
    import torch
    from torch.profiler import ProfilerActivity, profile

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(net(X), y).backward()
        opt.step()

    for _ in range(3):
        step()
    n_steps = 10
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(n_steps):
            step()
    rows = [
        (e.key, e.self_cpu_time_total / n_steps / 1e3, e.count // n_steps)
        for e in prof.key_averages()
        if e.self_cpu_time_total / n_steps > 200  # us
    ]
    del torch
    return sorted(rows, key=lambda r: -r[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=5, help="steps per timed repetition")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    threadpool_limits(1)
    blas = [
        f"{i['internal_api']} {i['version']} ({i.get('architecture')}, {i['num_threads']} thread)"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    ]
    print(f"numpy {np.__version__}, BLAS: {'; '.join(blas)}")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"mkldnn {torch.backends.mkldnn.is_available()}")  # fmt: skip
    print(f"python {platform.python_version()}, load average {os.getloadavg()}")
    print(f"architecture: {IMAGE} -> conv{KERNEL}x{FILTERS[0]} - pool - conv{KERNEL}x{FILTERS[1]}"
          f" - pool - fc {HIDDEN} - fc {CLASSES}; batch {N}; float32")  # fmt: skip

    flops = 2 * N * (28 * 28 * FILTERS[0] * KERNEL**2 * IMAGE[0]
                     + 14 * 14 * FILTERS[1] * KERNEL**2 * FILTERS[0]
                     + FILTERS[1] * 7 * 7 * HIDDEN + HIDDEN * CLASSES)  # fmt: skip
    print(f"forward FLOPs {flops / 1e9:.2f} G; a step counted as 3x forward\n")

    print("| rule | netcore step | torch step | netcore / torch | netcore GFLOP/s |")
    print("|---|---|---|---|---|")
    for rule in ("sgd", "adam"):
        contenders = {"netcore": netcore_step(rule), "torch": torch_step(rule)[0]}
        t = _median_times(contenders, args.calls, args.repeats)
        gflops = 3 * flops / t["netcore"] / 1e9
        print(f"| {rule} | {t['netcore'] * 1e3:.1f} ms | {t['torch'] * 1e3:.1f} ms | "
              f"{t['netcore'] / t['torch']:.2f}x | {gflops:.0f} |")  # fmt: skip

    print("\nnetcore, per piece (medians, each piece timed alone; indented rows are parts of "
          "the row above):\n")  # fmt: skip
    print("| piece | time |")
    print("|---|---|")
    for name, sec in netcore_breakdown(args.repeats).items():
        print(f"| {name} | {sec * 1e3:.2f} ms |")

    print("\ntorch, self CPU time per step by operator (profiler, 10 sgd steps; > 0.2 ms):\n")
    print("| operator | time | calls |")
    print("|---|---|---|")
    _, net, opt, loss_fn, X, y = torch_step("sgd")
    for key, ms, count in torch_breakdown(net, opt, loss_fn, X, y):
        print(f"| {key} | {ms:.2f} ms | {count} |")


if __name__ == "__main__":
    main()
