"""nndfast.reference: the tutorial's network in plain numpy.

This module is the oracle every compiled kernel is cross-checked against and
the baseline every benchmark stands beside.  It is written the tutorial's way
on purpose; do not speed it up.

Differences from the tutorial's code, each to remove a trap:
- costFunction returns an array of shape (outputLayerSize,) computed with
  np.sum(..., axis=0), which equals the tutorial's ``0.5*sum(...)`` but also
  works on numpy >= 2.4 where assigning it to a scalar slot used to raise.
- Everything else (formulas, names, the order of random draws) is the
  tutorial's.  In particular sigmoidPrime is the tutorial's
  e^-z/(1+e^-z)^2, which is NaN for z < -709; nndfast's fast version is
  finite there.
"""
import time

import numpy as np

from nndfast.data import X, y

__all__ = ["Neural_Network", "computeNumericalGradient", "grid_search", "GridResult", "X", "y"]


class Neural_Network(object):
    """The tutorial's 2-3-1 sigmoid network (Parts 2, 4 and 5).

    W1 has shape (inputLayerSize, hiddenLayerSize) and W2 has shape
    (hiddenLayerSize, outputLayerSize), drawn with np.random.randn in that
    order.
    """

    def __init__(self, inputLayerSize=2, hiddenLayerSize=3, outputLayerSize=1):
        # Define hyperparameters
        self.inputLayerSize = inputLayerSize
        self.outputLayerSize = outputLayerSize
        self.hiddenLayerSize = hiddenLayerSize

        # Weights (parameters)
        self.W1 = np.random.randn(self.inputLayerSize, self.hiddenLayerSize)
        self.W2 = np.random.randn(self.hiddenLayerSize, self.outputLayerSize)

    def forward(self, X):
        """Propagate X (n, inputLayerSize) through the network; return yHat (n, outputLayerSize)."""
        self.z2 = np.dot(X, self.W1)
        self.a2 = self.sigmoid(self.z2)
        self.z3 = np.dot(self.a2, self.W2)
        yHat = self.sigmoid(self.z3)
        return yHat

    def sigmoid(self, z):
        """Apply the sigmoid activation function to a scalar, vector or matrix."""
        return 1 / (1 + np.exp(-z))

    def sigmoidPrime(self, z):
        """Derivative of the sigmoid, the tutorial's formula."""
        return np.exp(-z) / ((1 + np.exp(-z)) ** 2)

    def costFunction(self, X, y):
        """J = 0.5*sum((y-yHat)**2) over examples, shape (outputLayerSize,)."""
        self.yHat = self.forward(X)
        J = 0.5 * np.sum((y - self.yHat) ** 2, axis=0)
        return J

    def costFunctionPrime(self, X, y):
        """(dJdW1, dJdW2), shaped like (W1, W2)."""
        self.yHat = self.forward(X)

        delta3 = np.multiply(-(y - self.yHat), self.sigmoidPrime(self.z3))
        dJdW2 = np.dot(self.a2.T, delta3)

        delta2 = np.dot(delta3, self.W2.T) * self.sigmoidPrime(self.z2)
        dJdW1 = np.dot(X.T, delta2)

        return dJdW1, dJdW2

    # Helper functions for interacting with other classes (Part 5):
    def getParams(self):
        """W1 and W2 unrolled into one vector, shape (I*H + H*O,)."""
        params = np.concatenate((self.W1.ravel(), self.W2.ravel()))
        return params

    def setParams(self, params):
        """Set W1 and W2 from a vector shaped like getParams()."""
        W1_start = 0
        W1_end = self.hiddenLayerSize * self.inputLayerSize
        self.W1 = np.reshape(params[W1_start:W1_end], (self.inputLayerSize, self.hiddenLayerSize))
        W2_end = W1_end + self.hiddenLayerSize * self.outputLayerSize
        self.W2 = np.reshape(params[W1_end:W2_end], (self.hiddenLayerSize, self.outputLayerSize))

    def computeGradients(self, X, y):
        """costFunctionPrime unrolled like getParams(), shape (I*H + H*O,)."""
        dJdW1, dJdW2 = self.costFunctionPrime(X, y)
        return np.concatenate((dJdW1.ravel(), dJdW2.ravel()))


def computeNumericalGradient(N, X, y):
    """Central-difference estimate of the gradient of sum(J), shape like N.getParams()."""
    paramsInitial = N.getParams()
    numgrad = np.zeros(paramsInitial.shape)
    perturb = np.zeros(paramsInitial.shape)
    e = 1e-4

    for p in range(len(paramsInitial)):
        # Set perturbation vector
        perturb[p] = e
        N.setParams(paramsInitial + perturb)
        loss2 = np.sum(N.costFunction(X, y))

        N.setParams(paramsInitial - perturb)
        loss1 = np.sum(N.costFunction(X, y))

        # Compute Numerical Gradient
        numgrad[p] = (loss2 - loss1) / (2 * e)

        # Return the value we changed to zero:
        perturb[p] = 0

    # Return Params to original value:
    N.setParams(paramsInitial)

    return numgrad


# ---------------------------------------------------------------------------
# Sections below are added by the grid-search and training work; each keeps
# the tutorial's style (Python loops over forward/costFunction).
# ---------------------------------------------------------------------------


# -- Grid search (Part 3's brute force) ---------------------------------------

class GridResult(object):
    """What grid_search found (the same class for nndfast and the reference).

    costs : ndarray of shape (len(axis0), len(axis1), ...), or None
        costs[i, j, ...] = sum over outputs of J with those weights; None
        when full_output=False.
    best_cost : float, the smallest cost (np.argmin's choice: ties go to the
        lowest flat index).
    best_index : tuple of int, its index in the grid.
    best_weights : dict, canonical weight name ("W1[0,0]") -> best value.
    evaluations : int, the number of grid points evaluated.
    seconds : float, wall-clock time of the search.
    """

    def __init__(self, costs, best_cost, best_index, best_weights, evaluations, seconds):
        self.costs = costs
        self.best_cost = best_cost
        self.best_index = best_index
        self.best_weights = best_weights
        self.evaluations = evaluations
        self.seconds = seconds

    def __repr__(self):
        return (f"GridResult(best_cost={self.best_cost!r}, best_index={self.best_index!r}, "
                f"best_weights={self.best_weights!r}, evaluations={self.evaluations}, "
                f"seconds={self.seconds:.3g})")


def grid_search(NN, X, y, axes, full_output=True, num_threads=None, progress=False,
                client=None):
    """Brute force: the cost at every point of a grid of weight values.

    The tutorial's loop: set the weights in place, call costFunction, store
    sum(J).  axes is an ordered mapping from "W1[i,j]" / "W2[i,j]" (or
    ("W1", i, j)) to 1-D values; weights without an axis keep NN's values,
    and NN's weights are restored afterwards, whatever happens.
    num_threads is checked but ignored (this loop is serial).  progress:
    True for a bar on stderr, or a callable(done, total).  client is
    accepted for signature compatibility with nndfast.grid_search; the
    reference runs locally only, so anything but None raises ValueError.
    Returns a GridResult.
    """
    if client is not None:
        raise ValueError("nndfast.reference.grid_search runs locally only; pass client=None "
                         "(nndfast.grid_search runs on a Dask client)")
    from nndfast._progress import Progress
    from nndfast._threads import resolve_num_threads
    from nndfast._validate import parse_axes

    resolve_num_threads(num_threads)
    shapes = {"W1": np.shape(NN.W1), "W2": np.shape(NN.W2)}
    grid = parse_axes(axes, shapes)
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    shape = tuple(len(values) for _, _, _, _, values in grid)
    total = int(np.prod(shape))
    report = Progress(progress, total)
    costs = np.zeros(shape)
    best_cost, best_index = None, None
    W1_saved, W2_saved = NN.W1.copy(), NN.W2.copy()
    t0 = time.perf_counter()
    try:
        for n, index in enumerate(np.ndindex(*shape)):
            for a, (_, layer, i, j, values) in enumerate(grid):
                getattr(NN, layer)[i, j] = values[index[a]]
            cost = float(np.sum(NN.costFunction(X, y)))
            if full_output:
                costs[index] = cost
            if best_index is None or cost < best_cost or (cost != cost and best_cost == best_cost):
                best_cost, best_index = cost, index
            if n % 1000 == 999:
                report.update(n + 1)
        report.update(total)
    finally:
        NN.W1[...] = W1_saved
        NN.W2[...] = W2_saved
        report.close()
    seconds = time.perf_counter() - t0
    best_weights = {name: float(values[best_index[a]])
                    for a, (name, _, _, _, values) in enumerate(grid)}
    return GridResult(costs if full_output else None, best_cost, tuple(best_index),
                      best_weights, total, seconds)
