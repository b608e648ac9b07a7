"""Print issue 11's trainer agreement and speed: nndfast's trainer against
the tutorial's (nndfast.reference.trainer: scipy's BFGS over the numpy
network), seeds 0-19, on each case of tests/_agreement.py.

    python bench/train_agreement.py [--repeat N] [--ceiling]

For each case it counts the seeds on which nndfast's built-in trainer
needs the same iterations (within 4), traces the same cost and test cost
(rtol 1e-3 where above 1e-7), ends within 0.05 on every weight, and all
three.  The peer row is trainer(method="scipy-BFGS"): scipy's own BFGS over
nndfast's kernels, so the built-in row can only be judged against it: the
two differ from the tutorial in arithmetic (rounding), not in algorithm.
--ceiling adds scipy over the tutorial's own network with the cost and
gradient perturbed by one part in 1e16: how far rounding alone carries a
case from the tutorial's path (see CHAOTIC in tests/_agreement.py).

Speed: the total wall-clock time of the tutorial's trainer over every case
and seed divided by nndfast's (best of N runs), needs scipy.
"""
import argparse
import warnings
import os
import sys

import numpy as np

import nndfast
from nndfast import reference

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "tests")]
import _agreement as A  # noqa: E402
from train_table import best_time  # noqa: E402


class _Noisy(reference.trainer):
    """The tutorial's trainer with the cost and gradient perturbed by one
    part in 1e16 (rounding-sized), reproducibly."""

    def train(self, *args):
        self.rng = np.random.default_rng(12345)
        return super().train(*args)

    def costFunctionWrapper(self, params, X, y):
        cost, grad = super().costFunctionWrapper(params, X, y)
        return (cost * (1 + 1e-16 * self.rng.standard_normal()),
                grad * (1 + 1e-16 * self.rng.standard_normal(grad.shape)))


class _NoisyModule(object):
    Neural_Network = reference.Neural_Network
    trainer = _Noisy


def all_runs(module, **options):
    """Train every case from every seed (the job the speed ratio times)."""
    for case in A.CASES:
        for seed in A.SEEDS:
            A.train(module, seed, case, **options)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ceiling", action="store_true")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore", RuntimeWarning)   # the tutorial's sigmoid overflows
    n = len(A.SEEDS)
    print(f"nndfast {nndfast.__version__}: seeds agreeing with the tutorial's trainer, of {n}")
    print()
    print(f"| case | trainer | iterations | trace | weights | all | trace, first {A.PREFIX} |")
    print("|---|---|---|---|---|---|---|")
    rows = [("built-in", nndfast, {}), ("peer: scipy-BFGS", nndfast, {"method": "scipy-BFGS"})]
    if args.ceiling:
        rows.append(("scipy, 1e-16 noise", _NoisyModule, {}))
    for case in A.CASES:
        for name, module, options in rows:
            c = A.count(case, module, **options)
            print(f"| {case} | {name} | {c['iterations']} | {c['trace']} | {c['weights']} "
                  f"| {c['all']} | {c['prefix']} |")
    tr = best_time(lambda: all_runs(reference), args.repeat)
    tf = best_time(lambda: all_runs(nndfast), args.repeat)
    print()
    print(f"speed, all {len(A.CASES)} cases x {n} seeds, best of {args.repeat}: tutorial's "
          f"trainer {tr * 1e3:.1f} ms, nndfast's {tf * 1e3:.2f} ms: {tr / tf:.1f}x")


if __name__ == "__main__":
    main()
