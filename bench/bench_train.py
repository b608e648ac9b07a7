"""pytest-benchmark groups for training (issue 4): reference beside nndfast.

    pytest bench/bench_train.py                       # measure
    pytest bench/bench_train.py --benchmark-disable   # CI: run each job once

The jobs live in bench/train_table.py, which prints the same comparisons as
a table of ratios.  Speed targets are read from these runs, never asserted;
the assertions here only check that each job did its work.
"""
import os
import sys

import numpy as np
import pytest

import nndfast
from nndfast import reference

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_table as jobs  # noqa: E402

MODULES = {"reference": reference, "nndfast": nndfast}


@pytest.fixture(scope="module")
def big():
    return jobs.big_data()


@pytest.mark.parametrize("impl", ["reference", "nndfast"])
def test_batch_10k_tutorial(benchmark, impl):
    benchmark.group = "train: 10,000 batch iterations, tutorial data"
    res = benchmark.pedantic(jobs.batch_10k, args=(MODULES[impl],), rounds=3, iterations=1)
    assert res.iterations == 10_000


@pytest.fixture(scope="module")
def tutorial_costs():
    pytest.importorskip("scipy")
    return jobs.train_seeds(reference)


@pytest.mark.parametrize("impl,options", [
    ("reference", {}),
    ("nndfast", {}),
    ("nndfast", {"method": "scipy-BFGS"}),
], ids=["reference", "nndfast", "nndfast-scipy-BFGS"])
def test_trainer_seeds_0_to_19(benchmark, impl, options, tutorial_costs):
    benchmark.group = "train: trainer(NN).train(X, y), seeds 0-19"
    costs = benchmark(jobs.train_seeds, MODULES[impl], **options)
    # every trainer retraces the tutorial's (two seeds stop at a local minimum)
    np.testing.assert_allclose(costs, tutorial_costs, rtol=1e-3, atol=1e-7)


@pytest.mark.parametrize("impl", ["reference", "nndfast"])
def test_batch_1e5_examples_hidden_16(benchmark, impl, big):
    benchmark.group = (f"train: {jobs.BIG_ITERS} batch iterations, 1e5 examples, "
                       f"hidden {jobs.BIG_H}")
    res = benchmark.pedantic(jobs.big_descent, args=(MODULES[impl],) + big, rounds=3,
                             iterations=1)
    assert res.iterations == jobs.BIG_ITERS
