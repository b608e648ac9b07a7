"""pytest-benchmark groups for training (issue 4): reference beside nndfast.

    pytest bench/bench_train.py                       # measure
    pytest bench/bench_train.py --benchmark-disable   # CI: run each job once

Names: train-batch-10k[3x2-H3]-nndfast and so on (op[size]-impl, see
docs/benchmarks.md).  The jobs live in bench/train_table.py, which prints the
same comparisons as a table of ratios.  Speed targets are read from these
runs, never asserted; the assertions here only check that each job did its
work.
"""
import os
import sys

import numpy as np
import pytest

import nndfast
from nndfast import reference
from _cases import cases, name, rounds

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_table as jobs  # noqa: E402

MODULES = {"reference": reference, "nndfast": nndfast}
BIG = f"1e5-H{jobs.BIG_H}"


@pytest.fixture(scope="module")
def big():
    return jobs.big_data()


@cases([("train-batch-10k", "3x2-H3", impl) for impl in MODULES])
def test_batch_10k_tutorial(benchmark, request, op, size, impl):
    name(benchmark, op, size, impl, iterations=10_000)
    res = benchmark.pedantic(jobs.batch_10k, args=(MODULES[impl],), rounds=rounds(request),
                             iterations=1)
    assert res.iterations == 10_000


@pytest.fixture(scope="module")
def tutorial_costs():
    pytest.importorskip("scipy")
    return jobs.train_seeds(reference)


TRAINERS = {"reference": (reference, {}), "nndfast": (nndfast, {}),
            "nndfast-scipy-BFGS": (nndfast, {"method": "scipy-BFGS"})}


@cases([("trainer-seeds-0-19", "3x2-H3", impl) for impl in TRAINERS])
def test_trainer_seeds_0_to_19(benchmark, op, size, impl, tutorial_costs):
    mod, options = TRAINERS[impl]
    name(benchmark, op, size, impl)
    costs = benchmark(jobs.train_seeds, mod, **options)
    # every trainer retraces the tutorial's (two seeds stop at a local minimum)
    np.testing.assert_allclose(costs, tutorial_costs, rtol=1e-3, atol=1e-7)


@cases([(f"train-batch-{jobs.BIG_ITERS}", BIG, impl) for impl in MODULES])
def test_batch_1e5_examples(benchmark, request, op, size, impl, big):
    name(benchmark, op, size, impl, iterations=jobs.BIG_ITERS)
    res = benchmark.pedantic(jobs.big_descent, args=(MODULES[impl],) + big,
                             rounds=rounds(request), iterations=1)
    assert res.iterations == jobs.BIG_ITERS
