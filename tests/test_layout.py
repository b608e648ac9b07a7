"""The package's layout: one definition per result type, a reference that
stands alone, and an import graph without cycles."""
import ast
import json
import os
import warnings
from importlib.machinery import EXTENSION_SUFFIXES

import numpy as np
import pytest

import nndfast
from nndfast import reference
from _child import python
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


# -- the reference stands alone ----------------------------------------------------

_CHILD = r'''
import importlib.abc, json, sys, types
import numpy as np

pkgdir, blocked = sys.argv[1], set(json.loads(sys.argv[2]))


class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name in blocked:
            raise ModuleNotFoundError(f"{name} is blocked (compiled)", name=name)
        return None


sys.meta_path.insert(0, Block())
# The package without its __init__, which is the compiled API's re-exports.
pkg = types.ModuleType("nndfast")
pkg.__path__ = [pkgdir]
sys.modules["nndfast"] = pkg
try:
    import nndfast.network  # noqa: F401  (proves the block works)
    network_loaded = True
except ImportError:
    network_loaded = False
for name in [m for m in sys.modules if m.startswith("nndfast.")]:
    del sys.modules[name]

from nndfast import reference as R

np.random.seed(3)
NN = R.Neural_Network()
yhat = NN.forward(R.X)
cost = NN.costFunction(R.X, R.y)
res = R.grid_search(NN, R.X, R.y, {"W1[0,0]": np.linspace(-5, 5, 7), "W2[1,0]": [0.0, 1.0]})
numgrad = R.computeNumericalGradient(NN, R.X, R.y)
print(json.dumps({
    "network_loaded": network_loaded,
    "modules": sorted(m for m in sys.modules if m.startswith("nndfast")),
    "yhat": yhat.tolist(), "cost": cost.tolist(), "costs": res.costs.tolist(),
    "best_index": list(res.best_index), "numgrad": numgrad.tolist()}))
'''


def _compiled_modules(pkgdir):
    """Dotted names of the package's compiled modules (built or buildable)."""
    names = set()
    for f in os.listdir(pkgdir):
        stem = f.split(".")[0]
        if f.endswith(".pyx") or any(f.endswith(s) for s in EXTENSION_SUFFIXES):
            names.add(f"nndfast.{stem}")
    return sorted(names)


def test_reference_runs_with_the_compiled_modules_unavailable():
    pkgdir = os.path.dirname(nndfast.__file__)
    blocked = _compiled_modules(pkgdir)
    assert {"nndfast._network", "nndfast._grid", "nndfast._openmp"} <= set(blocked)
    proc = python("-c", _CHILD, pkgdir, json.dumps(blocked),
                  capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["network_loaded"] is False
    assert not set(out["modules"]) & set(blocked)
    assert "nndfast.reference" in out["modules"]
    # the same numbers as the reference imported the ordinary way
    np.random.seed(3)
    NN = reference.Neural_Network()
    res = reference.grid_search(NN, nndfast.X, nndfast.y,
                                {"W1[0,0]": np.linspace(-5, 5, 7), "W2[1,0]": [0.0, 1.0]})
    assert np.array_equal(out["yhat"], NN.forward(nndfast.X))
    assert np.array_equal(out["cost"], NN.costFunction(nndfast.X, nndfast.y))
    assert np.array_equal(out["costs"], res.costs)
    assert tuple(out["best_index"]) == res.best_index
    assert np.array_equal(out["numgrad"],
                          reference.computeNumericalGradient(NN, nndfast.X, nndfast.y))


def test_numerical_gradient_of_any_network_is_the_tutorials_loop():
    """computeNumericalGradient on a non-nndfast network: duck typing over
    getParams/setParams/costFunction, the tutorial's numbers, params restored."""
    class Duck(object):   # no relation to either Neural_Network
        def __init__(self, net):
            self.net = net

        def getParams(self):
            return self.net.getParams()

        def setParams(self, params):
            self.net.setParams(params)

        def costFunction(self, X, y):
            return self.net.costFunction(X, y)

    _, ref = pair(5)
    before = ref.getParams()
    expected = reference.computeNumericalGradient(ref, nndfast.X, nndfast.y)
    got = nndfast.computeNumericalGradient(Duck(ref), nndfast.X, nndfast.y)
    assert np.array_equal(got, expected)
    assert np.array_equal(ref.getParams(), before)


# -- the import graph --------------------------------------------------------------

def _import_graph(pkgdir):
    """{module: set of package modules it imports}, from the source with ast,
    imports inside functions included.  Modules are named without the
    package prefix; the package itself (its __init__) is "__init__"."""
    modules = {f[:-3] for f in os.listdir(pkgdir) if f.endswith(".py")}
    modules |= {name.split(".", 1)[1] for name in _compiled_modules(pkgdir)}
    graph = {}
    for name in sorted(m for m in modules if os.path.exists(os.path.join(pkgdir, m + ".py"))):
        with open(os.path.join(pkgdir, name + ".py"), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [(a.name, None) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package (no subpackages here)
                    base = "nndfast" + (f".{base}" if base else "")
                targets = [(base, a.name) for a in node.names]
            else:
                continue
            for dotted, attr in targets:
                parts = dotted.split(".")
                if parts[0] != "nndfast":
                    continue
                if len(parts) > 1:
                    deps.add(parts[1])
                else:  # "import nndfast" or "from nndfast import x"
                    deps.add(attr if attr in modules else "__init__")
        deps.discard(name)
        graph[name] = deps
    return graph


def _reach(graph, start):
    seen, todo = set(), [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def _cycles(graph):
    """Modules that can reach themselves."""
    return sorted(m for m in graph if m in _reach(graph, m))


def test_import_graph_has_no_cycle_and_keeps_the_layers_apart():
    pkgdir = os.path.dirname(nndfast.__file__)
    graph = _import_graph(pkgdir)
    compiled = {name.split(".", 1)[1] for name in _compiled_modules(pkgdir)}
    # the parser sees what it must: module-level, in-function and from-package imports
    assert "_plan" in graph["grid"] and "_plan" in graph["distributed"]
    assert "distributed" in graph["grid"]          # grid_search(client=...), lazily
    assert "_grid" in graph["_plan"] and "reference" in graph["cli"] | graph.get("demo", set())
    assert _cycles(graph) == []
    assert _cycles({"a": {"b"}, "b": {"a"}}) == ["a", "b"]   # the checker can fail
    # the reference imports nothing compiled, directly or through a helper,
    # and not the package's __init__ (the compiled API)
    ref = _reach(graph, "reference")
    assert not ref & compiled and "__init__" not in ref, sorted(ref)
    # the helpers are pure Python (_threads asks the compiled _openmp, by design)
    for helper in ("_validate", "_progress", "_results", "_format", "_plotting"):
        assert not _reach(graph, helper) & (compiled | {"__init__", "reference"}), helper
    # the fast side never imports the reference
    for module in ("network", "grid", "train", "distributed", "_plan", "__init__"):
        assert "reference" not in _reach(graph, module), module
    # neither grid driver imports the other's internals: Dask's driver sits on the plan
    assert "grid" not in _reach(graph, "distributed")


# -- the kernel layer's shared rules have one home each --------------------------

_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "nndfast")


def _sources_beside_tests():
    # the wheel ships no .pyx/.pxd and no CONTRIBUTING.md; .ci/run's installed-
    # package step copies tests/ alone, so these checks belong to the source tree
    if not os.path.isfile(os.path.join(_SRC, "_grid.pyx")):
        pytest.skip("the package's sources are not beside tests/ (an installed-package run)")


def _kernel_sources():
    _sources_beside_tests()
    names = sorted(f for f in os.listdir(_SRC) if f.endswith((".pyx", ".pxd")))
    assert any(f.endswith(".pyx") for f in names), "the tests sit beside the package's sources"
    return {f: open(os.path.join(_SRC, f), encoding="utf-8").read() for f in names}


def test_kernels_raise_allocation_failures_through_alloc_pxd():
    sources = _kernel_sources()
    assert "object alloc_error(" in sources["_alloc.pxd"]
    for name, text in sources.items():
        if name != "_alloc.pxd":
            assert "MemoryError(" not in text, f"{name}: raise alloc_error/check_alloc (_alloc.pxd)"


_ROOT = os.path.join(_SRC, os.pardir)


def _kernel_layer_section():
    _sources_beside_tests()
    text = open(os.path.join(_ROOT, "CONTRIBUTING.md"), encoding="utf-8").read()
    start = text.index("### The kernel layer")
    return text[start:text.index("\n## ", start)]


def test_contributing_names_the_kernel_layer_files_that_exist():
    import re
    section = _kernel_layer_section()
    paths = set(re.findall(r"`(nndfast/[\w.]+)`", section))
    assert {"nndfast/_openmp_policy.h", "nndfast/_openmp.pyx", "nndfast/_grid.pyx",
            "nndfast/_grid_impl.h", "nndfast/_grid.h", "nndfast/_alloc.pxd",
            "nndfast/_plan.py", "nndfast/_validate.py", "nndfast/_dispatch.h",
            "nndfast/_network.h", "nndfast/_network_impl.h",
            "nndfast/_network_narrow_impl.h"} <= paths
    for path in paths:
        assert os.path.isfile(os.path.join(_ROOT, path)), f"CONTRIBUTING.md names {path}"
    # the phase functions it lists are those of _grid.pyx
    grid = _kernel_sources()["_grid.pyx"]
    names = re.findall(r"`(_[a-z_0-9]+)`", section)
    for name in names:
        if name not in ("_openmp_policy", "_grid_impl", "_better"):
            assert re.search(rf"^cdef [^(]*\b{name}\(", grid, re.M), f"{name} is not in _grid.pyx"
    assert re.search(r"^cdef inline bint _better\(", grid, re.M)


def test_one_team_state_one_best_order_one_weight_pattern():
    import re
    sources = _kernel_sources()
    # the team policy's state lives in the one module that includes the header
    including = [f for f, text in sources.items()
                 if re.search(r'#include "_openmp_policy.h"|extern from "_openmp_policy.h"', text)]
    assert including == ["_openmp.pyx"], including
    assert [f for f, text in sources.items()
            if re.search(r"^cdef inline bint _better\(", text, re.M)] == ["_grid.pyx"]
    # Python: no copy of the best-cost order (a value compared with itself to
    # find a NaN) outside _plan.py; the reference is the independent oracle
    pkg = _SRC
    for name in sorted(os.listdir(pkg)):
        if not name.endswith(".py") or name in ("_plan.py", "reference.py"):
            continue
        tree = ast.parse(open(os.path.join(pkg, name), encoding="utf-8").read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and len(node.ops) == 1 and \
                    isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
                left, right = ast.dump(node.left), ast.dump(node.comparators[0])
                assert left != right, f"{name}:{node.lineno}: use _plan.better"
        text = open(os.path.join(pkg, name), encoding="utf-8").read()
        if name != "_validate.py":
            assert "(W[12])" not in text, f"{name}: use _validate.weight_key"
