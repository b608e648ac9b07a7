"""Issue 11's trainer agreement: nndfast's trainer against the tutorial's.

The tutorial's trainer is nndfast.reference.trainer (scipy's BFGS over the
plain-numpy network).  A run of nndfast's trainer *agrees* with it when it
- needs the same number of iterations, within 4;
- traces the same cost (and test cost), to rtol 1e-3, at every iteration
  where the tutorial's is above 1e-7;
- ends with every weight within 0.05.

Used by tests/test_trainer.py (which asserts >= 18 of 20 seeds) and by
bench/train_agreement.py (which prints the counts and the speed ratio).
"""
import numpy as np

import nndfast
from nndfast import reference

SEEDS = range(20)
ITERATIONS, RTOL, FLOOR, WEIGHTS = 4, 1e-3, 1e-7, 0.05

# Part 7's data (shared/TUTORIAL.md): four training examples normalized as in
# Part 1; the test inputs divided by the *normalized* training maximum (1),
# as the notebook does, so they stay in hours.
_TRAIN_RAW = np.array(([3, 5], [5, 1], [10, 2], [6, 1.5]), dtype=float)
TRAIN_X = _TRAIN_RAW / np.amax(_TRAIN_RAW, axis=0)
TRAIN_Y = np.array(([75], [82], [93], [70]), dtype=float) / 100
TEST_X = np.array(([4, 5.5], [4.5, 1], [9, 2.5], [6, 2]), dtype=float) / np.amax(TRAIN_X,
                                                                                  axis=0)
TEST_Y = np.array(([70], [89], [85], [75]), dtype=float) / 100

# name -> (training data + optional test data, Lambda)
CASES = {
    "Parts 1-6": ((nndfast.X, nndfast.y), None),
    "Part 7, Lambda=1e-4": ((TRAIN_X, TRAIN_Y, TEST_X, TEST_Y), 1e-4),
    "Part 7, Lambda=0": ((TRAIN_X, TRAIN_Y, TEST_X, TEST_Y), 0.0),
}


class Run(object):
    """One trainer run: nit, J (nit, O), testJ (nit, O) or None, weights."""

    def __init__(self, T, NN, with_test):
        self.nit = T.optimizationResults.nit
        self.J = np.array(T.J).reshape(len(T.J), -1)
        self.testJ = np.array(T.testJ).reshape(len(T.testJ), -1) if with_test else None
        self.weights = NN.getParams()


def network(module, seed, Lambda):
    """module.Neural_Network() drawn after np.random.seed(seed), Part 7's if Lambda is set."""
    np.random.seed(seed)
    if Lambda is None:
        return module.Neural_Network()
    return module.Neural_Network(Lambda=Lambda)


def train(module, seed, case, **options):
    """Train module's network with module's trainer on CASES[case]; a Run."""
    data, Lambda = CASES[case]
    NN = network(module, seed, Lambda)
    T = module.trainer(NN, disp=False, **options)
    T.train(*data)
    return Run(T, NN, len(data) == 4)


def same_trace(a, b):
    """a traces b: rtol RTOL wherever b is above FLOOR, over their common length."""
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    keep = np.abs(b) > FLOOR
    return bool(np.all(np.abs(a[keep] - b[keep]) <= RTOL * np.abs(b[keep])))


def agreement(run, tutorial):
    """{criterion: bool} for one seed."""
    out = {
        "iterations": abs(run.nit - tutorial.nit) <= ITERATIONS,
        "trace": same_trace(run.J, tutorial.J) and (
            tutorial.testJ is None or same_trace(run.testJ, tutorial.testJ)),
        "weights": bool(np.max(np.abs(run.weights - tutorial.weights)) <= WEIGHTS),
    }
    out["all"] = all(out.values())
    return out


def count(case, seeds=SEEDS, **options):
    """{criterion: number of seeds that meet it}, nndfast's trainer(**options)
    against the tutorial's, on CASES[case]."""
    totals = dict.fromkeys(("iterations", "trace", "weights", "all"), 0)
    for seed in seeds:
        ok = agreement(train(nndfast, seed, case, **options), train(reference, seed, case))
        for key, value in ok.items():
            totals[key] += value
    return totals
