/*
 * Runtime choice of an instruction-set build, shared by kernels that compile
 * their bodies once per ISA (an *_impl.h included with a name suffix and a
 * target attribute, see _network.h).
 *
 * Why explicit feature bits rather than target_clones: target_clones needs
 * ifunc (glibc only, GCC only), and "arch=" clones dispatch on the CPU model,
 * which can miss a CPU newer than the compiler; __builtin_cpu_supports reads
 * the feature bits under GCC and clang, with glibc or musl.  Never
 * -march=native.
 */
#ifndef NNDFAST_DISPATCH_H
#define NNDFAST_DISPATCH_H

#define NND_CAT2(a, b) a##b
#define NND_CAT(a, b) NND_CAT2(a, b)

#if defined(__GNUC__) && defined(__x86_64__) && !defined(NNDFAST_NO_DISPATCH)
#define NND_DISPATCH_X86 1
#define NND_ATTR_AVX2 __attribute__((target("avx2,fma")))
#define NND_ATTR_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma")))
#else
#define NND_DISPATCH_X86 0
#endif

enum { NND_LEVEL_BASE = 0, NND_LEVEL_AVX2 = 1, NND_LEVEL_AVX512 = 2 };

/* The widest build this CPU runs: NND_LEVEL_AVX512, _AVX2 (with FMA) or _BASE. */
static int nnd_cpu_level(void) {
#if NND_DISPATCH_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        return NND_LEVEL_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return NND_LEVEL_AVX2;
#endif
    return NND_LEVEL_BASE;
}

/* The body of a kernel header's select function: TABLE(S) is that header's
 * table of its build with name suffix S; the builds are listed in level order,
 * so nnd_cpu_level() indexes them.  A new ISA is one more level above and one
 * more entry here. */
#if NND_DISPATCH_X86
#define NND_SELECT_BUILD(T, TABLE)                                              \
    do {                                                                        \
        static const T builds_[] = {TABLE(_base), TABLE(_avx2), TABLE(_avx512)}; \
        return builds_[nnd_cpu_level()];                                        \
    } while (0)
#else
#define NND_SELECT_BUILD(T, TABLE)                                              \
    do {                                                                        \
        static const T base_ = TABLE(_base);                                    \
        return base_;                                                           \
    } while (0)
#endif

#endif /* NNDFAST_DISPATCH_H */
