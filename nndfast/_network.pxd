# The pointer-level core of _network.pyx, for cimport by other kernel modules
# (descent in _train.pyx reuses the same forward/backprop code).

cdef struct Net:
    const double *X      # (N, I)
    const double *y      # (N, O)
    const double *W1     # (I, H)
    const double *W2     # (H, O)
    double *z2           # (N, H); z2, a2, z3 NULL together: not kept
    double *a2           # (N, H)
    double *z3           # (N, O)
    double *yhat         # (N, O); NULL: not kept
    # (N, I) or NULL.  Not NULL: each chunk first copies its rows of X here
    # and the kernels read them from this copy (a large call's own X, kept
    # for its lazy z2/a2/z3): the copy is made in the worker threads, while
    # the rows go to cache anyway, and it is exactly what the call used.
    double *xkeep
    Py_ssize_t nex, nin, nhid, nout   # N, I, H, O
    # Part 7's regularization, applied by _run_cost/_run_grad to the summed
    # cost and gradient: J[o] = scale*J[o] + (lam/2)*(sum W1^2 + sum W2^2)/O,
    # dJ/dW = scale*dJ/dW + lam*W (so sum(J) has exactly that gradient).
    # Lambda None (Parts 2-6): scale 1, lam 0, and the results are bitwise
    # the unregularized ones.  Lambda a number:
    # scale 1/N, lam Lambda.  Every Net must set both; forward ignores them.
    double scale
    double lam

# Fill z2, a2, z3, yhat for all rows (z2, a2, z3 NULL together, or yhat
# NULL: computed, not kept); -1 if scratch could not be allocated.
cdef int _run_forward(const Net *n, int num_threads) noexcept nogil
# Forward pass plus J (O,), regularized as scale/lam say; -1 if scratch could not be allocated.
cdef int _run_cost(const Net *n, double *J, int num_threads) noexcept nogil
# Forward, J (O,), dJ/dW1 -> g1 (I, H), dJ/dW2 -> g2 (H, O), regularized as
# scale/lam say; -1 on allocation failure.
cdef int _run_grad(const Net *n, double *g1, double *g2, double *J,
                   int num_threads) noexcept nogil
