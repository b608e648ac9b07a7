"""pytest-benchmark groups for overridden methods (issue 14): the stock
network, subclasses and the reference side by side.

    pytest bench/bench_overrides.py                       # measure
    pytest bench/bench_overrides.py --benchmark-disable   # CI: run each job once

Names: overrides-gradient_descent-1000-steps[3x2-H3]-nndfast-TanhNetwork and
so on (op[size]-impl, see docs/benchmarks.md).  The jobs live in
bench/overrides_table.py, which prints them as a table.  Speeds are read from
these runs, never asserted.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import overrides_table as jobs  # noqa: E402
from _cases import cases, name  # noqa: E402


def _slug(text):
    return re.sub(r"[^A-Za-z0-9_]+", "-", text).strip("-")


OPS = {"overrides-" + _slug(job): job for job in jobs.JOBS}
IMPLS = {_slug(net): net for net in jobs.NETWORKS}

# what each job must have done
DONE = {jobs.descent: lambda res: res.iterations == jobs.GD_STEPS,
        jobs.grid: lambda res: res.evaluations == jobs.GRID_SIDE ** 2,
        jobs.numerical_gradient: lambda res: res.shape == (9,)}


@cases([(op, "3x2-H3", impl) for op in OPS for impl in IMPLS])
def test_overrides(benchmark, op, size, impl):
    fn = jobs.JOBS[OPS[op]]
    name(benchmark, op, size, impl, job=OPS[op], network=IMPLS[impl])
    assert DONE[fn](benchmark(fn, IMPLS[impl]))
