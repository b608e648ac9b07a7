# Declarations of the branch-free math in _fastmath.h, for cimport by kernels.
from libc.stdint cimport int64_t

cdef extern from "_fastmath.h" nogil:
    double nnd_exp_neg(double x) noexcept
    double nnd_sigmoid(double z) noexcept
    double nnd_sigmoid_prime(double z) noexcept
    void nnd_sigmoid_vec(const double *z, double *out, int64_t n) noexcept
    void nnd_sigmoid_prime_vec(const double *z, double *out, int64_t n) noexcept
