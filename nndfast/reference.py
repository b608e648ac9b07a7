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

__all__ = ["Neural_Network", "computeNumericalGradient", "X", "y"]


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
