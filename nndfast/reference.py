"""nndfast.reference (reference layer): the tutorial's network in plain numpy.

This module is the oracle every compiled kernel is cross-checked against and
the baseline every benchmark stands beside.  It is written the tutorial's way
on purpose; do not speed it up.

It stands alone: it imports numpy, the tutorial data (nndfast.data) and the
pure-Python helpers nndfast._validate, nndfast._progress and
nndfast._results, and nothing compiled, so an oracle shares no machinery
with the kernels it checks.  (``import nndfast`` itself loads the compiled
API; this module does not need it.)

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

from nndfast._progress import Progress
from nndfast._results import DescentResult, GridResult
from nndfast._validate import check_num_threads, parse_axes
from nndfast.data import X, y

__all__ = ["Neural_Network", "computeNumericalGradient", "grid_search", "GridResult",
           "gradient_descent", "gradient_check", "trainer", "X", "y"]


class Neural_Network(object):
    """The tutorial's 2-3-1 sigmoid network (Parts 2, 4, 5 and 7).

    W1 has shape (inputLayerSize, hiddenLayerSize) and W2 has shape
    (hiddenLayerSize, outputLayerSize), drawn with np.random.randn in that
    order.  Lambda=None (the default) is the network of Parts 2-6; a number
    (0 included) gives Part 7's regularized cost and gradient.  Part 7's own
    class defaults to Lambda=0; None keeps the earlier Parts' unscaled cost.
    """

    def __init__(self, inputLayerSize=2, hiddenLayerSize=3, outputLayerSize=1, Lambda=None):
        # Define hyperparameters
        self.inputLayerSize = inputLayerSize
        self.outputLayerSize = outputLayerSize
        self.hiddenLayerSize = hiddenLayerSize

        # Weights (parameters)
        self.W1 = np.random.randn(self.inputLayerSize, self.hiddenLayerSize)
        self.W2 = np.random.randn(self.hiddenLayerSize, self.outputLayerSize)

        # Regularization parameter (Part 7)
        self.Lambda = Lambda

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
        """J = 0.5*sum((y-yHat)**2) over examples, shape (outputLayerSize,);
        with Lambda, Part 7's 0.5*sum((y-yHat)**2)/n + (Lambda/2)*(sum W1^2 + sum W2^2).

        With several outputs each entry of J carries 1/outputLayerSize of the
        penalty, so that sum(J) is the cost whose gradient costFunctionPrime
        gives (Part 7 has one output, where this is its formula as written).
        """
        self.yHat = self.forward(X)
        if self.Lambda is None:
            J = 0.5 * np.sum((y - self.yHat) ** 2, axis=0)
        else:
            # Part 7: normalize by the number of examples, penalize big weights
            J = 0.5 * np.sum((y - self.yHat) ** 2, axis=0) / X.shape[0] + \
                (self.Lambda / 2) * (np.sum(self.W1 ** 2) + np.sum(self.W2 ** 2)) \
                / self.outputLayerSize
        return J

    def costFunctionPrime(self, X, y):
        """(dJdW1, dJdW2), shaped like (W1, W2); with Lambda, Part 7's."""
        self.yHat = self.forward(X)

        delta3 = np.multiply(-(y - self.yHat), self.sigmoidPrime(self.z3))
        dJdW2 = np.dot(self.a2.T, delta3)

        delta2 = np.dot(delta3, self.W2.T) * self.sigmoidPrime(self.z2)
        dJdW1 = np.dot(X.T, delta2)

        if self.Lambda is not None:
            # Part 7: add the gradient of the regularization term
            dJdW2 = dJdW2 / X.shape[0] + self.Lambda * self.W2
            dJdW1 = dJdW1 / X.shape[0] + self.Lambda * self.W1

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
    check_num_threads(num_threads)
    shapes = {"W1": np.shape(NN.W1), "W2": np.shape(NN.W2)}
    grid = parse_axes(axes, shapes)
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    shape = tuple(len(values) for _, _, _, _, values in grid)
    total = 1
    for n in shape:
        total *= n
    if total > np.iinfo(np.int64).max:
        raise ValueError(f"grid_search: the grid has {total} points, more than int64 can count")
    report = Progress(progress, total)
    costs = np.zeros(shape) if full_output else None
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


# ---------------------------------------------------------------------------
# Training (Parts 3, 5 and 6): gradient descent, the gradient check and the
# tutorial's BFGS trainer.  Same names and arguments as nndfast.train.
# ---------------------------------------------------------------------------

def gradient_descent(NN, X, y, learning_rate=1.0, max_iter=1000, tol=1e-6,
                     method="batch", seed=None, callback=None, num_threads=None,
                     callback_every=100):
    """Plain gradient descent on NN's weights, the way Part 3 describes it.

    batch: each iteration is W -= learning_rate * dJ/dW over all examples.
    stochastic: each epoch visits the examples one at a time, in the order
    np.argsort(rng.random(n), kind="stable") with rng = default_rng(seed),
    stepping on each example's own gradient (costFunctionPrime on that one
    row: with Lambda, Part 7's formula with n = 1).

    costs[k] is the cost (shape (outputLayerSize,)) after step/epoch k + 1.
    The run stops early, converged, once every |dJ/dW| <= tol.  A step that
    makes the cost or a weight inf/NaN is undone and the run stops (not
    converged).  num_threads is accepted for symmetry with nndfast and ignored.
    callback(iteration, cost) runs every callback_every iterations; returning
    True stops the run.  Returns a DescentResult (costs, iterations,
    converged, diverged, evaluations): the class nndfast.gradient_descent
    returns, with diverged True when a step was undone.
    """
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    costs = []
    evaluations = 0
    converged = False
    diverged = False

    dJdW1, dJdW2 = NN.costFunctionPrime(X, y)
    evaluations += 1
    grad = np.concatenate((dJdW1.ravel(), dJdW2.ravel()))
    if np.max(np.abs(grad)) <= tol:
        converged = True

    i = 0
    while i < max_iter and not converged:
        W1_old, W2_old = NN.W1.copy(), NN.W2.copy()
        if method == "batch":
            NN.W1 = NN.W1 - learning_rate * dJdW1
            NN.W2 = NN.W2 - learning_rate * dJdW2
        else:
            order = np.argsort(rng.random(n), kind="stable")
            for e in order:
                W1_ex, W2_ex = NN.W1.copy(), NN.W2.copy()
                dJdW1, dJdW2 = NN.costFunctionPrime(X[e:e + 1], y[e:e + 1])
                evaluations += 1
                NN.W1 = NN.W1 - learning_rate * dJdW1
                NN.W2 = NN.W2 - learning_rate * dJdW2
                if not (np.all(np.isfinite(NN.W1)) and np.all(np.isfinite(NN.W2))):
                    NN.W1, NN.W2 = W1_ex, W2_ex
                    diverged = True
                    break
            if diverged:
                break
        J = NN.costFunction(X, y)
        if not (np.all(np.isfinite(J)) and np.all(np.isfinite(NN.W1))
                and np.all(np.isfinite(NN.W2))):
            NN.W1, NN.W2 = W1_old, W2_old
            diverged = True
            break
        costs.append(J)
        i += 1
        dJdW1, dJdW2 = NN.costFunctionPrime(X, y)
        evaluations += 1
        grad = np.concatenate((dJdW1.ravel(), dJdW2.ravel()))
        if np.max(np.abs(grad)) <= tol:
            converged = True
        if callback is not None and i % callback_every == 0 and not converged:
            if callback(i, J) is True:
                break

    costs = np.array(costs).reshape(len(costs), NN.outputLayerSize)
    return DescentResult(costs, i, converged, diverged, evaluations)


def gradient_check(NN, X, y):
    """norm(grad - numgrad) / norm(grad + numgrad): backprop against Part 5's
    central differences.  Around 1e-10 or smaller when backprop is right."""
    numgrad = computeNumericalGradient(NN, X, y)
    grad = NN.computeGradients(X, y)
    return np.linalg.norm(grad - numgrad) / np.linalg.norm(grad + numgrad)


class trainer(object):
    """The tutorial's trainer (Parts 6 and 7): scipy's BFGS on the unrolled weights.

    train(X, y) is Part 6's; train(X, y, testX, testY) is Part 7's, whose
    callback also records the test cost in testJ.  The options are the
    tutorial's: maxiter 200, disp True and scipy's default gtol of 1e-5.
    """

    def __init__(self, N, gtol=1e-5, maxiter=200, disp=True):
        # Make local reference to network:
        self.N = N
        self.gtol = gtol
        self.maxiter = maxiter
        self.disp = disp

    def callbackF(self, params):
        self.N.setParams(params)
        self.J.append(self.N.costFunction(self.X, self.y))
        if self.testX is not None:
            self.testJ.append(self.N.costFunction(self.testX, self.testY))

    def costFunctionWrapper(self, params, X, y):
        self.N.setParams(params)
        cost = self.N.costFunction(X, y)
        grad = self.N.computeGradients(X, y)
        return np.sum(cost), grad

    def train(self, X, y, testX=None, testY=None):
        try:
            from scipy import optimize
        except ImportError:
            raise ImportError(
                'trainer needs scipy: pip install "nndfast[train]"') from None
        if (testX is None) != (testY is None):
            raise ValueError("pass both testX and testY, or neither")

        # Make an internal variable for the callback function:
        self.X = X
        self.y = y
        self.testX = testX
        self.testY = testY

        # Make empty lists to store training and testing costs:
        self.J = []
        self.testJ = []

        params0 = self.N.getParams()

        options = {'maxiter': self.maxiter, 'disp': self.disp, 'gtol': self.gtol}
        _res = optimize.minimize(self.costFunctionWrapper, params0, jac=True, method='BFGS',
                                 args=(X, y), options=options, callback=self.callbackF)

        self.N.setParams(_res.x)
        self.optimizationResults = _res
