"""Ctrl-C during one long network call: forward, costFunction and
costFunctionPrime look for signals between the kernel's segments, so
KeyboardInterrupt lands within a few segments (about SIGNAL_CHECK_MS each),
not when the call ends, and the process goes on working.

Each case runs in a child process that starts one long call and is sent
SIGINT while the call runs.  The bound asserted here is a generous hang
guard for a loaded CI machine; the measured latency is printed (-s) and
reported in docs/hardening.md.
"""
import sys
import textwrap

import pytest

from _child import sigint_child

CHILD = textwrap.dedent(r"""
    import json, sys, time
    import numpy as np
    import nndfast

    op, n, H = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 2))
    y = rng.random((n, 1))
    np.random.seed(0)
    NN = nndfast.Neural_Network(hiddenLayerSize=H)

    def call(X, y):
        if op == "forward":
            return [NN.forward(X)]
        if op == "cost":
            return [NN.costFunction(X, y)]
        return list(NN.costFunctionPrime(X, y))

    small = call(X[:50000], y[:50000])          # warm-up, and the reference below
    print("READY", flush=True)
    sys.stdin.readline()
    t0 = time.monotonic()
    try:
        call(X, y)
        out = dict(interrupted=False)
    except KeyboardInterrupt:
        out = dict(interrupted=True)
    out.update(start=t0, caught=time.monotonic())
    # the kernels returned cleanly: the next call works and gives the same bits
    again = call(X[:50000], y[:50000])
    out["same_after"] = all(a.tobytes() == b.tobytes() for a, b in zip(small, again))
    print(json.dumps(out), flush=True)
""")

# Hang guard only; the target (issue 20) is 0.2 s, measured in docs/hardening.md.
LATENCY_LIMIT = 2.0


@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")
@pytest.mark.parametrize("op,n,H,delay", [
    ("forward", 3 * 10**6, 256, 0.3),
    ("cost", 10**7, 32, 0.3),
    ("gradient", 10**7, 32, 0.3),
])
def test_ctrl_c_interrupts_one_long_network_call(tmp_path, op, n, H, delay):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    r, sent = sigint_child([sys.executable, str(script), op, str(n), str(H)], delay, timeout=300)
    latency = r["caught"] - sent
    print(f"{op} n={n} H={H}: KeyboardInterrupt {latency * 1e3:.0f} ms after SIGINT")
    assert latency < LATENCY_LIMIT, f"{op}: KeyboardInterrupt {latency:.2f} s after SIGINT"
    assert r["same_after"], "the call after the interrupt gave other results"


def test_long_call_off_the_main_thread_gives_the_main_threads_bits():
    """Python runs signal handlers on the main thread only, so a call from
    another thread runs its segments without looking for signals; it still
    gives exactly the main thread's results."""
    import threading

    import numpy as np

    import nndfast

    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((1500000, 2)), rng.random((1500000, 1))
    np.random.seed(0)
    NN = nndfast.Neural_Network()
    want = NN.costFunctionPrime(X, y)
    got = []
    t = threading.Thread(target=lambda: got.append(NN.costFunctionPrime(X, y)))
    t.start()
    t.join(120)
    assert not t.is_alive()
    assert all(a.tobytes() == b.tobytes() for a, b in zip(want, got[0]))

