"""The tutorial series replayed with ``from nndfast import *`` (Parts 4, 5 and 7).

Each workflow is a short script written as the notebook writes it.  It runs
twice, once after ``from nndfast import *`` and once with nndfast.reference's
names in its place, and every variable it ends with is compared at rtol
1e-12 (central differences with an absolute bound: they divide rounding by
2e).  Part 7's formulas are also checked against the notebook's arithmetic
written out here, and resized layers run in a child process so that a crash
is seen.  (Part 6's and Part 7's trainer traces are tested in test_bfgs_trainer.py.)
"""
import os
import pickle
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nndfast
from nndfast import reference

from _child import python
from conftest import assert_close, cost_scale, data, gradient_scales, pair

EPS = np.finfo(float).eps
LAMBDAS = [None, 0.0, 1e-4, 1.0, 10.0]


def part7_data():
    """Part 7's four training and four test examples, normalized as the
    notebook does, quirk included: testX is divided by the maximum of the
    already normalized trainX (1), so it stays in raw hours."""
    trainX = np.array(([3, 5], [5, 1], [10, 2], [6, 1.5]), dtype=float)
    trainY = np.array(([75], [82], [93], [70]), dtype=float)
    testX = np.array(([4, 5.5], [4.5, 1], [9, 2.5], [6, 2]), dtype=float)
    testY = np.array(([70], [89], [85], [75]), dtype=float)
    trainX = trainX / np.amax(trainX, axis=0)
    trainY = trainY / 100
    testX = testX / np.amax(trainX, axis=0)
    testY = testY / 100
    return trainX, trainY, testX, testY


def replay(script, module, **given_names):
    """Run script after ``from <module> import *`` and then the given names
    (the notebooks define their own data after the import); return its namespace."""
    ns = {}
    exec(f"import numpy as np\nfrom numpy.linalg import norm\nfrom {module} import *\n", ns)
    ns.update(given_names)
    exec(textwrap.dedent(script), ns)
    return ns


def replay_both(script, **given_names):
    return (replay(script, "nndfast", **given_names),
            replay(script, "nndfast.reference", **given_names))


def numgrad_tolerance(J):
    """Bound on the difference of two central-difference gradients whose costs
    agree to a few ulps: (loss2 - loss1) / 2e magnifies rounding by 1/2e."""
    return 64 * EPS * (1 + np.max(np.abs(J))) / 2e-4


def tutorial_cost(NN, X, y, Lambda):
    """Part 7's costFunction as the notebook writes it (its complete class)."""
    yHat = NN.forward(X)
    return 0.5 * sum((y - yHat) ** 2) / X.shape[0] + \
        (Lambda / 2) * (np.sum(NN.W1 ** 2) + np.sum(NN.W2 ** 2))


def tutorial_gradient(NN, X, y, Lambda):
    """Part 7's costFunctionPrime as the notebook writes it."""
    yHat = NN.forward(X)
    sp = lambda z: np.exp(-z) / ((1 + np.exp(-z)) ** 2)   # noqa: E731
    delta3 = np.multiply(-(y - yHat), sp(NN.z3))
    dJdW2 = np.dot(NN.a2.T, delta3) / X.shape[0] + Lambda * NN.W2
    delta2 = np.dot(delta3, NN.W2.T) * sp(NN.z2)
    dJdW1 = np.dot(X.T, delta2) / X.shape[0] + Lambda * NN.W1
    return dJdW1, dJdW2


# -- Parts 4 and 5 ---------------------------------------------------------------

PART4 = """
np.random.seed(seed)
NN = Neural_Network()
cost1 = NN.costFunction(X, y)
dJdW1, dJdW2 = NN.costFunctionPrime(X, y)
scalar = 3
NN.W1 = NN.W1 + scalar*dJdW1
NN.W2 = NN.W2 + scalar*dJdW2
cost2 = NN.costFunction(X, y)
dJdW1, dJdW2 = NN.costFunctionPrime(X, y)
NN.W1 = NN.W1 - scalar*dJdW1
NN.W2 = NN.W2 - scalar*dJdW2
cost3 = NN.costFunction(X, y)
"""


@pytest.mark.parametrize("seed", range(6))
def test_part4_uphill_then_downhill(seed):
    fast, ref = replay_both(PART4, seed=seed)
    for name in ("cost1", "cost2", "cost3"):
        assert fast[name].shape == (1,)
        assert_close(fast[name], ref[name], rtol=1e-11)
    for name in ("dJdW1", "dJdW2"):
        assert_close(fast[name], ref[name], scale=np.abs(ref[name]).max(), rtol=1e-11)
    # the notebook's point (a step along the gradient climbs, against it
    # descends) reads the same: a step of 3 overshoots for some seeds, in both
    assert (fast["cost2"] > fast["cost1"]) == (ref["cost2"] > ref["cost1"])
    assert (fast["cost3"] < fast["cost1"]) == (ref["cost3"] < ref["cost1"])


PART5 = """
np.random.seed(seed)
NN = Neural_Network()
params = NN.getParams()
NN.setParams(params)
numgrad = computeNumericalGradient(NN, X, y)
grad = NN.computeGradients(X, y)
check = norm(grad-numgrad)/norm(grad+numgrad)
after = NN.getParams()
"""


@pytest.mark.parametrize("seed", range(6))
def test_part5_numerical_gradient_check(seed):
    fast, ref = replay_both(PART5, seed=seed)
    assert np.array_equal(fast["params"], ref["params"])
    assert np.array_equal(fast["after"], fast["params"])     # weights restored
    J = ref["NN"].costFunction(reference.X, reference.y)
    assert np.all(np.abs(fast["numgrad"] - ref["numgrad"]) <= numgrad_tolerance(J))
    assert_close(fast["grad"], ref["grad"], scale=np.abs(ref["grad"]).max())
    assert fast["check"] < 1e-8 and ref["check"] < 1e-8


def test_star_import_gives_every_part_its_names():
    ns = replay("", "nndfast")
    # Part 2 (X, y, Neural_Network), Part 5 (computeNumericalGradient), Part 6 (trainer)
    for name in ("X", "y", "Neural_Network", "computeNumericalGradient", "trainer"):
        assert name in ns
    # Part 7's data is built in the notebook, not in partSix.py: nndfast does
    # not ship it either.
    for name in ("trainX", "trainY", "testX", "testY"):
        assert name not in ns


# -- Part 7 ---------------------------------------------------------------------

PART7 = """
np.random.seed(seed)
NN = Neural_Network(Lambda=0.0001)
numgrad = computeNumericalGradient(NN, X, y)
grad = NN.computeGradients(X, y)
check = norm(grad-numgrad)/norm(grad+numgrad)
J = NN.costFunction(X, y)
testJ = NN.costFunction(testX, testY)
dJdW1, dJdW2 = NN.costFunctionPrime(X, y)

hoursSleep = np.linspace(0, 10, 100)
hoursStudy = np.linspace(0, 5, 100)
a, b = np.meshgrid(hoursSleep/10., hoursStudy/5.)
allInputs = np.zeros((a.size, 2))
allInputs[:, 0] = a.ravel()
allInputs[:, 1] = b.ravel()
allOutputs = NN.forward(allInputs)
"""


@pytest.mark.parametrize("seed", range(6))
def test_part7_regularized_network_and_gradient_check(seed):
    X, y, testX, testY = part7_data()
    fast, ref = replay_both(PART7, seed=seed, X=X, y=y, testX=testX, testY=testY)
    assert fast["NN"].Lambda == 0.0001
    assert_close(fast["J"], ref["J"])
    assert_close(fast["testJ"], ref["testJ"])
    assert fast["J"].shape == fast["testJ"].shape == (1,)
    for name in ("grad", "dJdW1", "dJdW2"):
        assert_close(fast[name], ref[name], scale=np.abs(ref[name]).max())
    assert np.all(np.abs(fast["numgrad"] - ref["numgrad"]) <= numgrad_tolerance(ref["J"]))
    # "Should be less than 1e-8", as the notebook says
    assert fast["check"] < 1e-8 and ref["check"] < 1e-8
    assert fast["allOutputs"].shape == (10000, 1)
    assert_close(fast["allOutputs"], ref["allOutputs"])
    # the notebook's formulas, written out
    NN = ref["NN"]
    assert_close(fast["J"], tutorial_cost(NN, X, y, 0.0001))
    g1, g2 = tutorial_gradient(NN, X, y, 0.0001)
    assert_close(fast["dJdW1"], g1, scale=np.abs(g1).max())
    assert_close(fast["dJdW2"], g2, scale=np.abs(g2).max())


@pytest.mark.parametrize("Lambda", [0.0, 1e-4, 1.0, 10.0])
def test_part7_formulas_on_train_and_test_data(Lambda):
    trainX, trainY, testX, testY = part7_data()
    fast, ref = pair(3, Lambda=Lambda)
    for X, y in ((trainX, trainY), (testX, testY)):
        J = fast.costFunction(X, y)
        assert_close(J, tutorial_cost(ref, X, y, Lambda))
        g1, g2 = fast.costFunctionPrime(X, y)
        t1, t2 = tutorial_gradient(ref, X, y, Lambda)
        assert_close(g1, t1, scale=np.abs(t1).max())
        assert_close(g2, t2, scale=np.abs(t2).max())
        assert nndfast.gradient_check(fast, X, y) < 1e-8


def test_lambda_zero_is_the_mean_and_none_is_parts_2_to_6():
    X, y, _, _ = part7_data()
    fast, _ = pair(4)
    assert fast.Lambda is None
    J_sum, (g1_sum, g2_sum) = fast.costFunction(X, y), fast.costFunctionPrime(X, y)
    fast.Lambda = 0
    assert fast.Lambda == 0.0 and type(fast.Lambda) is float
    assert_close(fast.costFunction(X, y), J_sum / 4)
    g1, g2 = fast.costFunctionPrime(X, y)
    assert_close(g1, g1_sum / 4, scale=np.abs(g1_sum).max() / 4)
    assert_close(g2, g2_sum / 4, scale=np.abs(g2_sum).max() / 4)
    fast.Lambda = None
    assert np.array_equal(fast.costFunction(X, y), J_sum)


def test_lambda_can_change_between_calls():
    X, y, _, _ = part7_data()
    fast, ref = pair(5, hiddenLayerSize=6, Lambda=1.0)
    J1 = fast.costFunction(X, y)
    fast.Lambda = ref.Lambda = 10.0
    J10 = fast.costFunction(X, y)
    assert_close(J10, ref.costFunction(X, y))
    penalty = 0.5 * (np.sum(ref.W1 ** 2) + np.sum(ref.W2 ** 2))
    assert_close(J10 - J1, np.array([9 * penalty]), rtol=1e-10)
    assert_close(fast.computeGradients(X, y), ref.computeGradients(X, y),
                 scale=np.abs(ref.computeGradients(X, y)).max())


def test_several_outputs_share_the_penalty_so_sum_J_has_the_gradient():
    """J[o] = data_o/n + penalty/O: sum(J) is data/n + penalty, the cost whose
    gradient is X.T @ delta2 / n + Lambda*W1 (and likewise for W2)."""
    X, y = data(2, 7, 2, 3)
    fast, ref = pair(2, outputLayerSize=3, Lambda=0.5)
    J = fast.costFunction(X, y)
    penalty = 0.25 * (np.sum(ref.W1 ** 2) + np.sum(ref.W2 ** 2))
    data_term = 0.5 * np.sum((y - ref.forward(X)) ** 2, axis=0) / 7
    assert_close(J, data_term + penalty / 3)
    assert_close(J, ref.costFunction(X, y))
    assert nndfast.gradient_check(fast, X, y) < 1e-8
    assert reference.gradient_check(ref, X, y) < 1e-8


def _regularized_scales(ref, X, y):
    """assert_close scales for Part 7's J and gradient: the unregularized
    bounds over n plus the penalty's own magnitude."""
    n = X.shape[0]
    s1, s2 = gradient_scales(ref, X, y)
    lam = ref.Lambda
    return (cost_scale(ref, X, y) / n,
            s1 / n + lam * np.abs(ref.W1), s2 / n + lam * np.abs(ref.W2))


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.sampled_from([1, 3, 4, 255, 257, 3000]), I=st.integers(1, 4),
       H=st.sampled_from([1, 3, 16, 64]), O=st.integers(1, 3),
       Lambda=st.sampled_from(LAMBDAS[1:]), seed=st.integers(0, 2 ** 16))
def test_regularized_crosscheck(n, I, H, O, Lambda, seed):
    """Tiny and parallel paths, chunk edges, several outputs: rtol 1e-12."""
    fast, ref = pair(seed, inputLayerSize=I, hiddenLayerSize=H, outputLayerSize=O,
                     Lambda=Lambda)
    X, y = data(seed, n, I, O)
    sJ, s1, s2 = _regularized_scales(ref, X, y)
    J = fast.costFunction(X, y)
    assert J.shape == (O,)
    assert_close(J, ref.costFunction(X, y), scale=sJ)
    g1, g2 = fast.costFunctionPrime(X, y)
    r1, r2 = ref.costFunctionPrime(X, y)
    assert_close(g1, r1, scale=s1)
    assert_close(g2, r2, scale=s2)
    assert_close(fast.yHat, ref.yHat)
    grads = fast.computeGradients(X, y)
    assert np.array_equal(grads, np.concatenate((g1.ravel(), g2.ravel())))


@pytest.mark.parametrize("Lambda", LAMBDAS)
@pytest.mark.parametrize("n,I,H,O", [(3, 2, 3, 1), (4, 2, 3, 1), (40, 3, 5, 2), (600, 2, 64, 1)])
def test_numerical_gradient_and_check_with_lambda(n, I, H, O, Lambda):
    fast, ref = pair(n + H, inputLayerSize=I, hiddenLayerSize=H, outputLayerSize=O,
                     Lambda=Lambda)
    X, y = data(n, n, I, O)
    numgrad = nndfast.computeNumericalGradient(fast, X, y)
    numgrad_ref = reference.computeNumericalGradient(ref, X, y)
    J = ref.costFunction(X, y)
    assert np.all(np.abs(numgrad - numgrad_ref) <= numgrad_tolerance(J) * max(1, n / 4))
    assert np.array_equal(fast.getParams(), ref.getParams())     # restored
    assert nndfast.gradient_check(fast, X, y) < 1e-8


@pytest.mark.parametrize("method", ["batch", "stochastic"])
def test_regularized_descent_on_larger_data_matches_the_reference(method):
    """The parallel gradient (n * H * (I + O) above the tiny threshold) with
    Lambda, against the reference's loop."""
    X, y = data(3, 3000, 2, 1)
    fast, ref = pair(8, hiddenLayerSize=16, Lambda=1e-3)
    kw = dict(learning_rate=0.3 if method == "batch" else 0.01, max_iter=4, tol=0.0,
              method=method, seed=1)
    res = nndfast.gradient_descent(fast, X, y, **kw)
    res_ref = reference.gradient_descent(ref, X, y, **kw)
    assert_close(res.costs, res_ref.costs, rtol=1e-10)
    assert_close(fast.getParams(), ref.getParams(), rtol=1e-10,
                 scale=np.abs(ref.getParams()).max())


def test_regularized_results_do_not_depend_on_the_thread_count():
    X, y = data(1, 20000, 2, 1)
    results = []
    for nt in (1, 2):
        fast, _ = pair(2, hiddenLayerSize=16, Lambda=1e-3)
        res = nndfast.gradient_descent(fast, X, y, learning_rate=0.5, max_iter=5,
                                       num_threads=nt)
        results.append((res.costs, fast.getParams()))
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("method", ["batch", "stochastic"])
@pytest.mark.parametrize("Lambda", [0.0, 1e-4, 1.0])
def test_gradient_descent_descends_part7s_cost(method, Lambda):
    """Batch steps on Part 7's gradient; stochastic steps on Part 7's gradient
    of the one example (n = 1), as the reference does."""
    X, y, _, _ = part7_data()
    fast, ref = pair(6, Lambda=Lambda)
    kw = dict(learning_rate=0.5, max_iter=30, tol=0.0, method=method, seed=2)
    res = nndfast.gradient_descent(fast, X, y, **kw)
    res_ref = reference.gradient_descent(ref, X, y, **kw)
    assert res.iterations == res_ref.iterations == 30
    assert_close(res.costs, res_ref.costs, rtol=1e-10)
    assert_close(fast.getParams(), ref.getParams(), rtol=1e-10,
                 scale=np.abs(ref.getParams()).max())
    # the history is Part 7's cost at the weights the run ends with
    assert_close(res.costs[-1], tutorial_cost(ref, X, y, Lambda), rtol=1e-10)


@pytest.mark.parametrize("method", ["builtin", "scipy-BFGS"])
def test_trainer_minimizes_part7s_cost(method):
    if method == "scipy-BFGS":
        pytest.importorskip("scipy")
    X, y, _, _ = part7_data()
    fast, ref = pair(7, Lambda=1e-4)
    T = nndfast.trainer(fast, method=method, disp=False)
    T.train(X, y)
    # at the end the gradient of the regularized cost, not the plain one, is ~0
    g = fast.computeGradients(X, y)
    assert np.max(np.abs(g)) <= T.gtol
    assert_close(np.asarray(T.J[-1]), fast.costFunction(X, y), rtol=1e-10)
    fast.Lambda = None
    assert np.max(np.abs(fast.computeGradients(X, y))) > 10 * T.gtol


# -- Lambda's checks --------------------------------------------------------------

@pytest.mark.parametrize("bad,exc", [
    (-1e-4, ValueError), (-1, ValueError), (float("nan"), ValueError), (np.inf, ValueError),
    (-np.inf, ValueError), ("0.1", TypeError), (True, TypeError), (np.bool_(False), TypeError),
    (1j, TypeError), ([0.1], TypeError), (np.array([0.1]), TypeError),
])
def test_bad_lambda_raises(bad, exc):
    with pytest.raises(exc, match="Lambda"):
        nndfast.Neural_Network(Lambda=bad)
    fast, ref = pair(0, Lambda=1.0)
    with pytest.raises(exc, match="Lambda"):
        fast.Lambda = bad
    assert fast.Lambda == 1.0     # unchanged
    assert_close(fast.costFunction(nndfast.X, nndfast.y), ref.costFunction(nndfast.X, nndfast.y))


@pytest.mark.parametrize("good", [0, 1, 1e-4, np.float32(0.5), np.int64(2), 1e300])
def test_numeric_lambdas_are_accepted(good):
    fast, ref = pair(0, Lambda=good)
    assert fast.Lambda == float(good) and type(fast.Lambda) is float
    assert_close(fast.costFunction(nndfast.X, nndfast.y), ref.costFunction(nndfast.X, nndfast.y))


def test_lambda_with_no_examples_raises():
    fast, _ = pair(0, Lambda=0.1)
    X0, y0 = np.empty((0, 2)), np.empty((0, 1))
    with pytest.raises(ValueError, match="at least one row"):
        fast.costFunction(X0, y0)
    with pytest.raises(ValueError, match="at least one row"):
        fast.costFunctionPrime(X0, y0)
    assert fast.forward(X0).shape == (0, 1)


def test_a_lambda_poked_into_the_instance_dict_is_still_checked():
    fast, _ = pair(0, Lambda=0.1)
    fast.__dict__["_Lambda"] = -1.0
    with pytest.raises(ValueError, match="Lambda"):
        fast.costFunction(nndfast.X, nndfast.y)
    with pytest.raises(ValueError, match="Lambda"):
        nndfast.gradient_descent(fast, nndfast.X, nndfast.y, max_iter=1)


def test_lambda_survives_pickling_and_old_pickles_have_none():
    fast, _ = pair(0, Lambda=0.25)
    back = pickle.loads(pickle.dumps(fast))
    assert back.Lambda == 0.25
    assert np.array_equal(back.costFunction(nndfast.X, nndfast.y),
                          fast.costFunction(nndfast.X, nndfast.y))
    state = fast.__getstate__()
    del state["_Lambda"]                 # as pickled before Lambda existed
    old = nndfast.Neural_Network.__new__(nndfast.Neural_Network)
    old.__dict__.update(state)
    assert old.Lambda is None
    assert "Lambda=" in repr(fast) and "Lambda" not in repr(old)


def test_reference_keeps_the_tutorial_cost_without_lambda():
    np.random.seed(1)
    ref = reference.Neural_Network()
    assert ref.Lambda is None
    yHat = ref.forward(reference.X)
    assert np.array_equal(ref.costFunction(reference.X, reference.y),
                          0.5 * np.sum((reference.y - yHat) ** 2, axis=0))


# -- resized layers (issue 14, item 1) --------------------------------------------

RESIZE_CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import nndfast
from nndfast import reference

def check(fast, ref, X, y):
    yh = fast.forward(X)
    assert yh.shape == ref.forward(X).shape, (yh.shape, ref.forward(X).shape)
    np.testing.assert_allclose(yh, ref.forward(X), rtol=1e-12)
    assert fast.a2.shape == ref.a2.shape and fast.z3.shape == ref.z3.shape
    np.testing.assert_allclose(fast.a2, ref.a2, rtol=1e-12)
    np.testing.assert_allclose(fast.costFunction(X, y), ref.costFunction(X, y), rtol=1e-11)
    assert fast.yHat.shape == ref.yHat.shape
    np.testing.assert_allclose(fast.computeGradients(X, y), ref.computeGradients(X, y),
                               rtol=1e-9, atol=1e-13)

def resize(net, H, O, W1, W2, order):
    if order == "sizes first":
        net.hiddenLayerSize, net.outputLayerSize = H, O
        net.W1, net.W2 = W1.copy(), W2.copy()
    else:
        net.W2, net.W1 = W2.copy(), W1.copy()
        net.outputLayerSize, net.hiddenLayerSize = O, H

rng = np.random.default_rng(0)
for Lambda in (None, 0.01):
    for order in ("sizes first", "weights first"):
        np.random.seed(0)
        fast = nndfast.Neural_Network(Lambda=Lambda)
        np.random.seed(0)
        ref = reference.Neural_Network(Lambda=Lambda)
        for H, O in [(3, 1), (50, 1), (2, 1), (50, 4), (1, 4), (7, 2), (3, 1), (200, 3)]:
            for n in (3, 40):                       # tiny path (and large for H=200)
                X, y = rng.uniform(size=(n, 2)), rng.uniform(size=(n, O))
                W1, W2 = rng.normal(size=(2, H)), rng.normal(size=(H, O))
                # the tutorial's call first, so scratch buffers exist at the old sizes
                fast.forward(X[:, :2]); fast.costFunction(X[:, :2], fast.forward(X))
                resize(fast, H, O, W1, W2, order)
                resize(ref, H, O, W1, W2, order)
                check(fast, ref, X, y)
        # half-done resizes are clear errors, whatever was assigned first
        for half in ("H only", "O only", "W1 only", "W2 only"):
            if half == "H only":
                fast.hiddenLayerSize = fast.hiddenLayerSize + 5
            elif half == "O only":
                fast.outputLayerSize = fast.outputLayerSize + 1
            elif half == "W1 only":
                fast.W1 = np.ones((2, fast.hiddenLayerSize + 1))
            else:
                fast.W2 = np.ones((fast.hiddenLayerSize + 2, fast.outputLayerSize))
            X = np.ones((3, 2))
            for call in (lambda: fast.forward(X), lambda: fast.costFunction(X, X[:, :1]),
                         lambda: fast.costFunctionPrime(X, X[:, :1]), fast.getParams,
                         lambda: nndfast.computeNumericalGradient(fast, X, X[:, :1]),
                         lambda: nndfast.gradient_descent(fast, X, X[:, :1], max_iter=1)):
                try:
                    call()
                except ValueError as e:
                    assert "disagree" in str(e) or "shape" in str(e), str(e)
                else:
                    raise AssertionError(half + ": no ValueError")
            fast.hiddenLayerSize, fast.outputLayerSize = 3, 1
            fast.W1, fast.W2 = np.ones((2, 3)), np.ones((3, 1))
            fast.forward(X)

# scratch left by another size, or poked in by hand, is never written through
np.random.seed(1)
fast, ref = nndfast.Neural_Network(), None
np.random.seed(1)
ref = reference.Neural_Network()
X, y = rng.uniform(size=(3, 2)), rng.uniform(size=(3, 1))
ro = np.zeros((3, 3))
ro.flags.writeable = False
for bad in (None, (), (1, 2, 3, 4), (np.zeros((3, 3)),) * 3, (np.zeros((2, 3)),) * 4,
            (ro, ro, np.zeros((3, 1)), np.zeros((3, 1))), [np.zeros((3, 3))] * 4,
            (np.zeros((3, 3), np.float32),) * 2 + (np.zeros((3, 1)),) * 2):
    fast._scratch = bad
    check(fast, ref, X, y)
assert not ro.any()
print("resized OK")
"""


def test_resized_layers_in_a_child_process():
    """H and O up and down, sizes or weights assigned first, with and without
    Lambda: the reference's shapes and numbers, and half-done resizes raise.
    A child process, so that a memory error shows as a crash, not as luck."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(nndfast.__file__)))
    r = python("-c", RESIZE_CHILD, root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-4000:])
    assert r.stdout.strip().endswith("resized OK")


@pytest.mark.parametrize("bad", [True, np.int64(0), 2.0, "3", -1, 2 ** 70])
def test_bad_layer_size_assignments_raise_when_used(bad):
    fast, ref = pair(1)
    fast.hiddenLayerSize = bad
    with pytest.raises((TypeError, ValueError), match="hiddenLayerSize"):
        fast.costFunction(nndfast.X, nndfast.y)
    fast.hiddenLayerSize = 3
    assert_close(fast.costFunction(nndfast.X, nndfast.y), ref.costFunction(nndfast.X, nndfast.y))
