/*
 * Branch-free exp and sigmoid for nndfast's kernels.
 *
 * Why this file exists: libm's exp() is a scalar call, so a loop that uses it
 * never vectorizes.  These functions are plain arithmetic and bit operations
 * that GCC and clang turn into SIMD code inside `#pragma omp simd` loops or
 * under auto-vectorization, at whatever vector width the calling function is
 * compiled for.  Wider widths (AVX2, AVX-512) come only through runtime
 * dispatch (NND_TARGET_CLONES below), never through -march=native.
 *
 * Accuracy: nnd_exp_neg is within about 1 ulp of exp on [-746, 0]; the
 * sigmoid stays within 2.5 ulp of 1/(1+exp(-z)) (f' within 4.5) and never
 * overflows, so cross-checks against the numpy reference hold at rtol 1e-12.
 */
#ifndef NNDFAST_FASTMATH_H
#define NNDFAST_FASTMATH_H

#include <stdint.h>
#include <string.h>
#include <math.h>

/* Runtime dispatch: one clone per ISA level, chosen by the loader (ifunc).
 * Only where ifunc exists (GCC, x86-64, glibc); elsewhere the baseline build.
 * __linux__ alone is not enough: musl (musllinux wheels, Alpine) has no
 * ifunc, so Alpine's gcc rejects target_clones and a musl-gcc build fails to
 * load ("unsupported relocation type 37").  __GLIBC__ comes from the libc
 * headers included above. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__) && defined(__GLIBC__) && !defined(NNDFAST_NO_DISPATCH)
#define NND_TARGET_CLONES \
    __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define NND_TARGET_CLONES
#endif

#if defined(_MSC_VER)
#define NND_INLINE static __inline
#define NND_NOINLINE __declspec(noinline)
#define NND_RESTRICT __restrict
#else
#define NND_INLINE static inline __attribute__((always_inline))
#define NND_NOINLINE __attribute__((noinline))
#define NND_RESTRICT restrict
#endif

/* 0x1.8p52: adding it rounds a double of magnitude < 2^51 to an integer and
 * leaves that integer in the low mantissa bits. */
#define NND_SHIFTER 6755399441055744.0

NND_INLINE double nnd_bits_to_double(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

NND_INLINE uint64_t nnd_double_to_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* a where c, else b, by bit masks: a `c ? a : b` on doubles stays a branch
 * in GCC's AVX2 code (an FP select may not be if-converted while FP ops can
 * trap), and a branch keeps the whole loop scalar. */
NND_INLINE double nnd_select(int c, double a, double b) {
    uint64_t m = (uint64_t) 0 - (uint64_t) (c != 0);
    return nnd_bits_to_double((nnd_double_to_bits(a) & m) | (nnd_double_to_bits(b) & ~m));
}

/* k = round(x/ln2) plus the shifter, |x| < 2^51 * ln2: its low mantissa bits
 * hold k as a two's-complement integer (nnd_shifted_int), and subtracting the
 * shifter gives k as a double, exactly.  Callers keep this shifted form so
 * that 2^k is built from it without adding the shifter a second time. */
NND_INLINE double nnd_exp_ks(double x) {
    return x * 1.4426950408889634074 + NND_SHIFTER;
}

/* The integer k in a shifted k's low bits, modulo 2^64. */
NND_INLINE uint64_t nnd_shifted_int(double ks) {
    return nnd_double_to_bits(ks) - nnd_double_to_bits(NND_SHIFTER);
}

/* r = x - k*ln2, |r| <= ln2/2.  Cody-Waite: ln2 split in two so r is exact
 * to ~1e-20. */
NND_INLINE double nnd_exp_r(double x, double k) {
    double r = x - k * 6.93147180369123816490e-01;
    return r - k * 1.90821492927058770002e-10;
}

/* exp(x) = p * 2^k: *ks_out = nnd_exp_ks(x) and p = exp(r) for the
 * remainder r. */
NND_INLINE double nnd_exp_reduced(double x, double *ks_out) {
    double ks = nnd_exp_ks(x);
    double r = nnd_exp_r(x, ks - NND_SHIFTER);
    /* Taylor to degree 13 on |r| <= ln2/2: truncation error < 1e-17 */
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    *ks_out = ks;
    return p;
}

/* 2^k for a shifted k (nnd_exp_ks) with k in [-1022, 1023]: only 64-bit
 * add, subtract and shift, which every SIMD level has (an int64 divide or
 * arithmetic shift is not in SSE2/AVX2 and would make the loop scalar). */
NND_INLINE double nnd_pow2(double ks) {
    return nnd_bits_to_double((nnd_shifted_int(ks) + 1023u) << 52);
}

/* The argument of an exp of x <= 0: below -745.14 the result rounds to
 * zero, and clamping keeps k in nnd_scale_neg's range. */
NND_INLINE double nnd_clamp_neg(double x) {
    return nnd_select(x < -746.0, -746.0, x);
}

/* p * 2^k for p in [0.5, 2) and a shifted k (nnd_exp_ks) with k in
 * [-1076, 0].  Where 2^k would be subnormal, p * 2^(k+55) is still normal, so
 * it is exact, and the constant 2^-55 then rounds the product once and
 * underflows gradually exactly like libm does.  p * 2^(k+55) comes from an
 * integer add of k+55 to p's exponent field rather than a multiply: the
 * sigmoid is bound by the FMA ports, the integer add runs on any vector port,
 * and the bits are the same (0.66 ns against 0.69 per sigmoid on the AVX-512
 * clone of one EPYC core). */
NND_INLINE double nnd_scale_neg(double p, double ks) {
    uint64_t e = (nnd_shifted_int(ks) + 55u) << 52;
    return nnd_bits_to_double(nnd_double_to_bits(p) + e) * 0x1p-55;
}

/* exp(x) for x <= 0 (larger x is not supported: callers pass -|z|). */
NND_INLINE double nnd_exp_neg(double x) {
    double ks;
    double p = nnd_exp_reduced(nnd_clamp_neg(x), &ks);
    return nnd_scale_neg(p, ks);
}

/* exp(x) for |x| <= 708 only, either sign: 2^k is normal there, so one
 * factor does; a few instructions less than nnd_exp_neg for the grid's
 * exponential tables (|x| <= 170), with the same accuracy. */
NND_INLINE double nnd_exp_mid(double x) {
    double ks;
    double p = nnd_exp_reduced(x, &ks);
    return p * nnd_pow2(ks);
}

/* e^x for x <= 0 as the fraction p/d, for the sigmoid, which divides anyway:
 * the [6/6] Pade approximant of e^r on |r| <= ln2/2, N(r)/N(-r) with N(r) =
 * E(r^2) + r*O(r^2), error < 2e-19, takes 9 multiply-adds where the Taylor
 * polynomial takes 14, and its division merges into the sigmoid's, so a
 * sigmoid costs 0.39 ns instead of 0.68 (AVX-512 clone, one core of this
 * EPYC), and closer: on 450,000 samples the worst error fell from 2.6 to 2.4
 * ulp (f': 4.7 to 4.0), tests/test_network.py checks the bound.  p = 2^k * N(r)
 * (nnd_scale_neg, as in nnd_exp_neg); d = N(-r) in [0.83, 1.2]. */
typedef struct { double p, d; } nnd_exp_fraction;

NND_INLINE nnd_exp_fraction nnd_exp_neg_fraction(double x) {
    nnd_exp_fraction f;
    double ks, r, r2, e, o, ro;
    x = nnd_clamp_neg(x);
    ks = nnd_exp_ks(x);
    r = nnd_exp_r(x, ks - NND_SHIFTER);
    r2 = r * r;
    e = 1.0 / 665280.0;
    e = e * r2 + 1.0 / 792.0;
    e = e * r2 + 5.0 / 44.0;
    e = e * r2 + 1.0;
    o = 1.0 / 15840.0;
    o = o * r2 + 1.0 / 66.0;
    o = o * r2 + 0.5;
    ro = r * o;
    f.p = nnd_scale_neg(e + ro, ks);
    f.d = e - ro;
    return f;
}

/* sigmoid(z) = 1/(1+e^-z) and f'(z) from one exponential (backprop needs
 * both at every unit).  With t = e^-|z| = p/d: sigmoid is d/(d+p) for z >= 0
 * and p/(d+p) below, f'(z) = t/(1+t)^2 = (d/(d+p)) * (p/(d+p)).  Each a true
 * quotient, not a product with 1/(d+p): that product can land an ulp below
 * 1.0 where the sigmoid saturates, and the second division costs no time
 * (the FMA ports are the limit, not the divider).  No overflow
 * at any z (t <= 1), and f' stays finite everywhere (the textbook
 * e^-z/(1+e^-z)^2 is inf/inf = NaN below z = -709).  Returned by value: a
 * local whose address is taken inside an `omp simd` loop halves the grid's
 * speed. */
typedef struct { double value, prime; } nnd_sigmoid_pair;

NND_INLINE nnd_sigmoid_pair nnd_sigmoid_both(double z) {
    nnd_exp_fraction t = nnd_exp_neg_fraction(-fabs(z));
    double sum = t.d + t.p;
    nnd_sigmoid_pair s;
    s.value = nnd_select(z >= 0.0, t.d, t.p) / sum;
    s.prime = s.value * (nnd_select(z >= 0.0, t.p, t.d) / sum);
    return s;
}

/* Either half alone: inlined, the other half is dead code and goes. */
NND_INLINE double nnd_sigmoid(double z) { return nnd_sigmoid_both(z).value; }

NND_INLINE double nnd_sigmoid_prime(double z) { return nnd_sigmoid_both(z).prime; }

/* sigmoid(z), and f'(z) into *prime. */
NND_INLINE double nnd_sigmoid_and_prime(double z, double *prime) {
    nnd_sigmoid_pair s = nnd_sigmoid_both(z);
    *prime = s.prime;
    return s.value;
}

/* out[i] = sigmoid(z[i]); out may alias z. */
NND_TARGET_CLONES
static void nnd_sigmoid_vec(const double *z, double *out, int64_t n) {
    int64_t i;
#pragma omp simd
    for (i = 0; i < n; i++) out[i] = nnd_sigmoid(z[i]);
}

/* out[i] = sigmoid'(z[i]); out may alias z. */
NND_TARGET_CLONES
static void nnd_sigmoid_prime_vec(const double *z, double *out, int64_t n) {
    int64_t i;
#pragma omp simd
    for (i = 0; i < n; i++) out[i] = nnd_sigmoid_prime(z[i]);
}

#endif /* NNDFAST_FASTMATH_H */
