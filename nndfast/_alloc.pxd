# One home for how the kernels report an allocation that failed: the C side
# returns a nonzero status (or leaves a pointer NULL) without the GIL, and
# the def driver turns it into this MemoryError once it holds the GIL, so
# every message names nndfast (or the entry point) and what could not be had.


cdef inline object alloc_error(str what, str where="nndfast"):
    # The MemoryError for `what` (a noun phrase: "the cost's per-chunk sums").
    return MemoryError(f"{where}: could not allocate {what}")


cdef inline int check_alloc(int status, str what, str where="nndfast") except -1:
    # Raise alloc_error(what, where) if a kernel's status is nonzero.  Call it
    # after any other status (an interrupt) has been handled.
    if status:
        raise alloc_error(what, where)
    return 0
