"""The cases both benchmark entry points share: operations, sizes, data.

Sizes are (rows, hiddenLayerSize) with the tutorial's inputLayerSize=2 and
outputLayerSize=1.  Data beyond the tutorial's 3 rows is random in [0, 1],
like the tutorial's normalized X and y.
"""
import functools

import numpy as np

import nndfast
from nndfast import reference

SIZES = {
    "tutorial 3x2 H3": (3, 3),
    "1e5 H3": (100_000, 3),
    "1e5 H64": (100_000, 64),
    "1e6 H3": (1_000_000, 3),
    "1e6 H64": (1_000_000, 64),
}

IMPLS = {
    "reference": reference.Neural_Network,
    "nndfast": nndfast.Neural_Network,
}

OPS = {
    "forward": lambda N, X, y: N.forward(X),
    "costFunction": lambda N, X, y: N.costFunction(X, y),
    "costFunctionPrime": lambda N, X, y: N.costFunctionPrime(X, y),
}


@functools.lru_cache(maxsize=4)
def examples(n):
    """(X, y) with n rows: the tutorial's data for n == 3, else random in [0, 1]."""
    if n == 3:
        return nndfast.X, nndfast.y
    rng = np.random.default_rng(n)
    return rng.random((n, 2)), rng.random((n, 1))


def network(impl, hidden):
    """A network of the given implementation with the weights np.random.seed(0) gives."""
    np.random.seed(0)
    return IMPLS[impl](inputLayerSize=2, hiddenLayerSize=hidden, outputLayerSize=1)


# ---------------------------------------------------------------- pytest-benchmark naming
# Every benchmark takes the parameters op, size and impl (so that any
# `--group-by=param:NAME` of the three works for all of them), is named
# "op[size]-impl" and grouped by "op[size]": one group, one amount of work.

def size_id(label):
    """'tutorial 3x2 H3' -> '3x2-H3', '1e5 H64' -> '1e5-H64'."""
    return label.replace("tutorial ", "").replace(" ", "-")


def cases(rows, large=lambda op, size, impl: False):
    """@pytest.mark.parametrize("op,size,impl", ...) with ids "op-size-impl";
    rows for which large(op, size, impl) is true get the `large` marker."""
    import pytest

    params = [pytest.param(op, size, impl, id=f"{op}-{size}-{impl}",
                           marks=[pytest.mark.large] if large(op, size, impl) else [])
              for op, size, impl in rows]
    return pytest.mark.parametrize("op,size,impl", params)


def name(benchmark, op, size, impl, **info):
    """Name and group a benchmark for its case, and record the case in extra_info."""
    benchmark.name = f"{op}[{size}]-{impl}"
    benchmark.group = f"{op}[{size}]"
    benchmark.extra_info.update(op=op, size=size, impl=impl, **info)


def smoke(request):
    """True under --benchmark-disable: each case runs once to show it works, and
    the large ones shrink (nothing is timed, so nothing is misreported)."""
    return bool(request.config.getoption("benchmark_disable"))


def rounds(request):
    """Rounds for benchmark.pedantic: --benchmark-min-rounds (default 5), so
    one option sets the rounds of every benchmark, pedantic or not."""
    return max(1, int(request.config.getoption("benchmark_min_rounds")))
