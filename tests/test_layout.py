"""The package's layout: one definition per result type, a reference that
stands alone, and an import graph without cycles."""
import warnings

import numpy as np
import pytest

import nndfast
from nndfast import reference
from conftest import pair


# -- result types --------------------------------------------------------------

def test_each_result_type_is_one_class_on_both_sides():
    from nndfast import _results, grid, train
    assert nndfast.GridResult is grid.GridResult is reference.GridResult is _results.GridResult
    assert train.DescentResult is reference.DescentResult is _results.DescentResult
    assert train.OptimizeResult is _results.OptimizeResult
    for cls in (_results.GridResult, _results.DescentResult, _results.OptimizeResult):
        assert cls.__module__ == "nndfast._results"


@pytest.mark.parametrize("method", ["batch", "stochastic"])
def test_reference_descent_reports_divergence_as_nndfast_does(method):
    fields = ("costs", "iterations", "converged", "diverged", "evaluations")
    fast, ref = pair(0)
    Xs, ys = nndfast.X * 1e3, nndfast.y * 1e3      # lr * grad overflows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a = nndfast.gradient_descent(fast, Xs, ys, learning_rate=1e306, max_iter=50,
                                     method=method, seed=0)
        b = reference.gradient_descent(ref, Xs, ys, learning_rate=1e306, max_iter=50,
                                       method=method, seed=0)
    assert all(hasattr(b, f) for f in fields)
    assert a.diverged and b.diverged and not b.converged
    fast, ref = pair(0)
    b = reference.gradient_descent(ref, nndfast.X, nndfast.y, max_iter=20, method=method,
                                   seed=0)
    assert b.diverged is False and b.iterations == 20
    assert np.all(np.isfinite(b.costs))
