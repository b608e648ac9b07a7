"""`python -m nndfast`: a short demonstration until the full command lands."""
import sys
import time

import numpy as np

import nndfast
from nndfast import reference


def main():
    np.random.seed(0)
    fast = nndfast.Neural_Network()
    np.random.seed(0)
    ref = reference.Neural_Network()
    print("yHat (nndfast):   ", np.round(fast.forward(nndfast.X).ravel(), 6))
    print("yHat (reference): ", np.round(ref.forward(nndfast.X).ravel(), 6))
    print("y:                ", nndfast.y.ravel())
    w = np.linspace(-5, 5, 1000)
    for name, N in (("reference", ref), ("nndfast", fast)):
        costs = np.zeros(1000)
        t0 = time.perf_counter()
        for i in range(1000):
            N.W1[0, 0] = w[i]
            costs[i] = N.costFunction(nndfast.X, nndfast.y)[0]
        dt = time.perf_counter() - t0
        print(f"{name:9s}: 1000 costs over W1[0,0] in {dt * 1e3:.2f} ms, "
              f"best W1[0,0] = {w[costs.argmin()]:.4f}, J = {costs.min():.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
