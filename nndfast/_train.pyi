"""Type stub for the training kernels (nndfast/_train.pyx)."""
import numpy as np
import numpy.typing as npt

STATUS_RAN_OUT: int
STATUS_CONVERGED: int
STATUS_DIVERGED: int
STATUS_LINE_SEARCH_FAILED: int

_F = npt.NDArray[np.float64]

def work_size(n: int, I: int, H: int, O: int) -> int: ...
def gradient(X: _F, y: _F, H: int, params: _F, grad: _F, J: _F, work: _F,
             num_threads: int, Lambda: float | None = ...) -> None: ...
def batch_descent(X: _F, y: _F, H: int, params: _F, grad: _F, J: _F, work: _F,
                  learning_rate: float, tol: float, costs: _F,
                  num_threads: int, Lambda: float | None = ...) -> tuple[int, int, int]: ...
def stochastic_descent(X: _F, y: _F, H: int, params: _F, grad: _F, J: _F, work: _F,
                       orders: npt.NDArray[np.intp], learning_rate: float, tol: float,
                       costs: _F, num_threads: int, Lambda: float | None = ...) -> tuple[int, int, int]: ...
def bfgs(X: _F, y: _F, H: int, params: _F, grad: _F, J: _F, Hinv: _F, state: _F, work: _F,
         gtol: float, costs: _F, num_threads: int, Lambda: float | None = ...) -> tuple[int, int, int]: ...
