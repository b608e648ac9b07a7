"""Print what overriding a tutorial method costs (issue 14): the stock network,
subclasses, and the reference, on the same jobs.

    python bench/overrides_table.py [--repeat N]

A subclass that overrides sigmoid and sigmoidPrime (TanhNetwork, README's
example) takes the Python loops of gradient_descent and grid_search; one that
overrides sigmoidPrime only keeps the compiled grid search.  Each cell is the
best of N wall-clock runs on the tutorial data.  The jobs are the ones
bench/bench_overrides.py hands to pytest-benchmark.
"""
import argparse

import numpy as np

import nndfast
from nndfast import reference
from train_table import best_time   # bench/ is on sys.path: run as a script or from bench_*

GD_STEPS = 1000
GRID_SIDE = 100


class Tanh(object):
    """README's TanhNetwork override."""

    def sigmoid(self, z):
        return np.tanh(z)

    def sigmoidPrime(self, z):
        return 1 - np.tanh(z) ** 2


class HalfPrime(object):
    """sigmoidPrime alone (leaves costFunction, so grid_search, compiled)."""

    def sigmoidPrime(self, z):
        return 0.5 * np.exp(-z) / ((1 + np.exp(-z)) ** 2)


# name -> (module whose functions run the jobs, network class)
NETWORKS = {
    "nndfast": (nndfast, nndfast.Neural_Network),
    "nndfast, TanhNetwork": (nndfast, type("TanhNetwork", (Tanh, nndfast.Neural_Network), {})),
    "nndfast, sigmoidPrime only": (
        nndfast, type("HalfPrimeNetwork", (HalfPrime, nndfast.Neural_Network), {})),
    "reference": (reference, reference.Neural_Network),
    "reference, TanhNetwork": (
        reference, type("RefTanhNetwork", (Tanh, reference.Neural_Network), {})),
}


def network(name):
    mod, cls = NETWORKS[name]
    np.random.seed(0)
    return mod, cls()


def descent(name):
    """GD_STEPS batch steps."""
    mod, NN = network(name)
    return mod.gradient_descent(NN, nndfast.X, nndfast.y, max_iter=GD_STEPS, tol=0)


def grid(name):
    """A GRID_SIDE x GRID_SIDE search over W1[0,0], W1[0,1], best point only."""
    mod, NN = network(name)
    w = np.linspace(-5, 5, GRID_SIDE)
    return mod.grid_search(NN, nndfast.X, nndfast.y, {"W1[0,0]": w, "W1[0,1]": w},
                           full_output=False)


def numerical_gradient(name):
    mod, NN = network(name)
    return mod.computeNumericalGradient(NN, nndfast.X, nndfast.y)


JOBS = {f"gradient_descent, {GD_STEPS} steps": descent,
        f"grid_search {GRID_SIDE}x{GRID_SIDE}": grid,
        "computeNumericalGradient": numerical_gradient}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    print(f"tutorial data, best of {args.repeat} wall-clock runs")
    print(f"{'network':28s}" + "".join(f"{job:>30s}" for job in JOBS))
    for name in NETWORKS:
        cells = [best_time(lambda: job(name), args.repeat) for job in JOBS.values()]
        print(f"{name:28s}" + "".join(f"{t * 1e3:>27.3f} ms" for t in cells))


if __name__ == "__main__":
    main()
