"""Result types (helper): what grid_search, gradient_descent and the built-in
trainer return.

Each class is defined once, here, and shared by nndfast's API and by
nndfast.reference, so code written against one side runs on the other.
Pure Python: importing this module loads nothing compiled.
"""

__all__ = ["GridResult", "DescentResult", "OptimizeResult"]


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


class DescentResult(object):
    """What gradient_descent returns.

    Attributes
    ----------
    costs : ndarray (iterations, outputLayerSize)
        costs[k] is the cost J after step (batch) or epoch (stochastic) k + 1.
    iterations : int
        Steps (batch) or epochs (stochastic) completed and kept.
    converged : bool
        True if the run stopped because every |dJ/dW| <= tol.
    diverged : bool
        True if a step made the cost or a weight inf/NaN (it was undone).
    evaluations : int
        Backprop gradient evaluations (full-data ones, plus one per example
        visited for stochastic descent).
    """

    def __init__(self, costs, iterations, converged, diverged, evaluations):
        self.costs = costs
        self.iterations = iterations
        self.converged = converged
        self.diverged = diverged
        self.evaluations = evaluations

    def __repr__(self):
        last = self.costs[-1] if len(self.costs) else None
        return (f"DescentResult(iterations={self.iterations}, converged={self.converged}, "
                f"diverged={self.diverged}, evaluations={self.evaluations}, "
                f"final_cost={last})")


class OptimizeResult(dict):
    """The built-in trainer's result, shaped like scipy.optimize.OptimizeResult:
    x, fun, jac, hess_inv, nit, nfev, njev, status, success, message, readable
    as attributes or keys."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    __setattr__ = dict.__setitem__
    __delattr__ = dict.__delitem__

    def __repr__(self):
        width = max(map(len, self)) + 1
        return "\n".join(f"{k.rjust(width)}: {v!r}" for k, v in self.items())

    def __dir__(self):
        return list(self.keys())
