"""Print the training speed-ups of issue 4: nndfast against nndfast.reference.

    python bench/train_table.py [--repeat N]

Each row times the same job both ways (best of N wall-clock runs, after a
warm-up) on this machine, and prints the ratio reference / nndfast.  The
jobs are the ones bench/bench_train.py hands to pytest-benchmark.
"""
import argparse
import time

import numpy as np

import nndfast
from nndfast import reference

TRAIN_SEEDS = range(20)
BIG_N, BIG_H, BIG_ITERS = 100_000, 16, 5


def batch_10k(mod):
    """10,000 batch steps on the tutorial data."""
    np.random.seed(0)
    NN = mod.Neural_Network()
    return mod.gradient_descent(NN, mod.X, mod.y, learning_rate=3.0, max_iter=10_000, tol=0)


def train_seeds(mod, **options):
    """trainer(NN).train(X, y) from seeds 0-19; returns the final costs."""
    costs = []
    for seed in TRAIN_SEEDS:
        np.random.seed(seed)
        NN = mod.Neural_Network()
        mod.trainer(NN, disp=False, **options).train(mod.X, mod.y)
        costs.append(float(NN.costFunction(mod.X, mod.y)[0]))
    return costs


def big_data():
    rng = np.random.default_rng(0)
    return rng.random((BIG_N, 2)), rng.random((BIG_N, 1))


def big_descent(mod, X, y):
    """BIG_ITERS batch steps, 1e5 examples, hidden layer of 16."""
    np.random.seed(0)
    NN = mod.Neural_Network(2, BIG_H, 1)
    return mod.gradient_descent(NN, X, y, learning_rate=1e-6, max_iter=BIG_ITERS, tol=0)


def best_time(fn, repeat):
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def rows(repeat):
    Xb, yb = big_data()
    yield ("10,000 batch iterations, tutorial data", ">= 30x", 1,
           lambda: batch_10k(reference), lambda: batch_10k(nndfast))
    yield ("trainer(NN).train(X, y), seeds 0-19", ">= 30x", 1,
           lambda: train_seeds(reference), lambda: train_seeds(nndfast))
    yield ("  (peer) trainer(method='scipy-BFGS')", "", 1,
           lambda: train_seeds(reference), lambda: train_seeds(nndfast, method="scipy-BFGS"))
    yield (f"batch iteration, 1e5 examples, hidden {BIG_H}", ">= 3x", BIG_ITERS,
           lambda: big_descent(reference, Xb, yb), lambda: big_descent(nndfast, Xb, yb))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    costs = np.array(train_seeds(nndfast))
    print(f"nndfast {nndfast.__version__}, OpenMP {nndfast.openmp_enabled()}, "
          f"best of {args.repeat}; built-in trainer over seeds 0-19: final cost < 1e-8 on "
          f"{np.sum(costs < 1e-8)} seeds, worst {costs.max():.2e} (a local minimum, where the "
          f"tutorial's trainer stops too)")
    print()
    print("| job | target | reference | nndfast | speed-up |")
    print("|---|---|---|---|---|")
    for name, target, per, ref, fast in rows(args.repeat):
        tr = best_time(ref, args.repeat) / per
        tf = best_time(fast, args.repeat) / per
        unit = " per iteration" if per > 1 else ""
        print(f"| {name} | {target} | {tr * 1e3:.3f} ms{unit} | {tf * 1e3:.3f} ms{unit} "
              f"| {tr / tf:.1f}x |")


if __name__ == "__main__":
    main()
