"""Type stub for the training kernels (nndfast/_train.pyx)."""
from typing import Callable

import numpy as np
import numpy.typing as npt

STATUS_RAN_OUT: int
STATUS_CONVERGED: int
STATUS_DIVERGED: int

_F = npt.NDArray[np.float64]

def work_size(n: int, I: int, H: int, O: int) -> int: ...
def gradient(X: _F, y: _F, H: int, params: _F, grad: _F, J: _F, work: _F,
             num_threads: int, Lambda: float | None = ...) -> None: ...
def batch_descent(X: _F, y: _F, H: int, params: _F, grad: _F, J: _F, work: _F,
                  learning_rate: float, tol: float, costs: _F,
                  num_threads: int, Lambda: float | None = ...) -> tuple[int, int, int]: ...
def stochastic_descent(X: _F, y: _F, H: int, params: _F, grad: _F, J: _F, work: _F,
                       orders: npt.NDArray[np.intp], learning_rate: float, tol: float,
                       costs: _F, num_threads: int,
                       Lambda: float | None = ...) -> tuple[int, int, int]: ...
class Trace:
    def __init__(self, O: int, has_test: bool) -> None: ...
    def __len__(self) -> int: ...
    def costs(self) -> _F: ...
    def test_costs(self) -> _F: ...

def bfgs_network(X: _F, y: _F, H: int, params: _F, grad: _F, Hinv: _F, trace: Trace | None,
                 testX: _F | None, testY: _F | None, gtol: float,
                 maxiter: int, check_every: int,
                 callback: Callable[[_F], object] | None,
                 num_threads: int,
                 Lambda: float | None = ...) -> tuple[int, int, int, int, bool, float, int]: ...
def bfgs_python(fun: Callable[[_F], tuple[float, _F]], callback: Callable[[_F], object] | None,
                params: _F, grad: _F, Hinv: _F, gtol: float,
                maxiter: int) -> tuple[int, int, int, int, bool, float, int]: ...
