"""pytest-benchmark groups for overridden methods (issue 14): the stock
network, subclasses and the reference side by side.

    pytest bench/bench_overrides.py                       # measure
    pytest bench/bench_overrides.py --benchmark-disable   # CI: run each job once

The jobs live in bench/overrides_table.py, which prints them as a table.
Speeds are read from these runs, never asserted.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import overrides_table as jobs  # noqa: E402


# what each job must have done
DONE = {jobs.descent: lambda res: res.iterations == jobs.GD_STEPS,
        jobs.grid: lambda res: res.evaluations == jobs.GRID_SIDE ** 2,
        jobs.numerical_gradient: lambda res: res.shape == (9,)}


@pytest.mark.parametrize("name", list(jobs.NETWORKS))
@pytest.mark.parametrize("job", list(jobs.JOBS))
def test_overrides(benchmark, job, name):
    benchmark.group = f"overrides: {job}"
    fn = jobs.JOBS[job]
    assert DONE[fn](benchmark(fn, name))
