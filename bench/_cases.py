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
