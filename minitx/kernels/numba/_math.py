"""Scalar math that LLVM can vectorize, for use inside Numba kernels.

Numba turns math.exp, math.erf and math.tanh into calls to the C library, one
element at a time, and this llvmlite has no vector math library (SVML), so a
kernel whose inner loop calls them runs several times slower than PyTorch's
vectorized versions. The functions here are plain arithmetic (a polynomial and
an exponent put into the float's bits), so the loop around them becomes SIMD
code. docs/kernels/numba.md has the measurements.

    poly_exp(x)   float32 and float64, within 1 ulp of the correctly rounded exp;
                  math.exp when called from Python (or under NUMBA_DISABLE_JIT)
    poly_exp_pair(h, l) exp(h + l) <= 1 in float32, h + l not rounded first (gelu's erfc)
    fma(a, b, c)  a * b + c rounded once
    row_sum(a)    sum of a 1-D array in float64, vectorized, the same order every run
    row_dot(a, b) the same for sum(a * b)
    row_sum_dot(a, b) sum(a) and sum(a * b) in float64, in one pass
    row_moments(a, k) sum(a - k) and sum((a - k)^2) in float64, in one pass
    row_max(a)    max of a 1-D array, vectorized (a row with a NaN gives some value)

The kernel cache is keyed by a hash of every kernel source (minitx/kernel_cache.py),
this file included, so an edit here recompiles the kernels that inline it.
"""
import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from ._jit import njit


@intrinsic
def _max_no_nan(typingctx, a, b):
    """LLVM's maxnum(a, b) with the no-NaN flag: the one form of a float max whose
    reduction over a loop LLVM turns into SIMD code."""
    if a != b or a not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(args[0].type, [args[0].type, args[1].type])
        fn = builder.module.declare_intrinsic("llvm.maxnum", [args[0].type], fnty)
        return builder.call(fn, args, fastmath=("nnan",))

    return a(a, b), codegen


@intrinsic
def _float_from_bits(typingctx, bits):
    """Reinterpret an int32 as float32 or an int64 as float64 (no conversion)."""
    if bits == types.int32:
        sig, llvm_type = types.float32(types.int32), ir.FloatType()
    elif bits == types.int64:
        sig, llvm_type = types.float64(types.int64), ir.DoubleType()
    else:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_type)

    return sig, codegen


# exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2].
# ln 2 is split in a high part with trailing zero bits (n * hi is exact) and a
# low part (Cody and Waite), so r keeps full precision. Out-of-range inputs are
# clamped and the result replaced at the end, with no early return: branches
# inside the loop body stop LLVM from vectorizing the caller. fastmath 'contract'
# lets LLVM fuse each p * r + c into one multiply-add instruction, rounded once
# instead of twice (as accurate, and faster).
_LOG2E = 1.4426950408889634


@njit(fastmath={"contract"})
def _exp_f64(x):
    xc = min(max(x, -708.0), 709.0)
    n = np.floor(xc * _LOG2E + 0.5)
    r = xc - n * 6.93147180369123816490e-01 - n * 1.90821492927058770002e-10
    # Taylor series to r^13: the first omitted term is < 4e-18 for |r| <= ln2/2.
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    y = p * _float_from_bits((np.int64(n) + 1023) << 52)
    y = 0.0 if x < -708.0 else y                # below the normal range: 0 (denormals flushed)
    return math.inf if x > 709.0 else y


@njit(fastmath={"contract"})
def _exp_reduced_f32(r, n):
    """exp(r) * 2^n for |r| <= ln2 / 2 and an integral float32 n in [-126, 127]."""
    # Cephes expf: a degree-5 minimax polynomial for (exp(r) - 1 - r) / r^2.
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * r * r + r + np.float32(1.0)
    return p * _float_from_bits(np.int32((np.int32(n) + 127) << 23))


_EXP_F32_LO, _EXP_F32_HI = -87.3, 88.37     # past these exp is flushed to 0 or overflows


@njit(fastmath={"contract"})
def _exp_f32(x):
    lo, hi = np.float32(_EXP_F32_LO), np.float32(_EXP_F32_HI)
    xc = min(max(x, lo), hi)
    n = np.floor(xc * np.float32(_LOG2E) + np.float32(0.5))
    y = _exp_reduced_f32(xc - n * np.float32(0.693359375) - n * np.float32(-2.12194440e-4), n)
    y = np.float32(0.0) if x < lo else y
    return np.float32(math.inf) if x > hi else y


@njit(fastmath={"contract"})
def poly_exp_pair(hi, lo):
    """exp(hi + lo) for float32 hi and lo, |lo| < 4 and hi + lo <= 0, without rounding
    hi + lo first.

    For an argument known as a sum of two floats, like -x^2 / 2 split exactly
    by fma: hi - n ln2_hi is exact (Sterbenz), so |hi| up to 87 loses nothing,
    where exp(hi + lo) would carry hi's rounding, |hi| * 6e-8, into the result.
    (Only for arguments <= 0, so without exp's overflow branch: 3 instructions
    of 60 fewer in gelu's loop.)
    """
    w = hi + lo                                  # only to pick n and the range
    wc = max(w, np.float32(_EXP_F32_LO))
    n = np.floor(wc * np.float32(_LOG2E) + np.float32(0.5))
    r = (hi - n * np.float32(0.693359375)) + lo - n * np.float32(-2.12194440e-4)
    y = _exp_reduced_f32(r, n)
    return np.float32(0.0) if w < np.float32(_EXP_F32_LO) else y


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c rounded once (LLVM's fma: one instruction on x86-64 CPUs since 2013)."""
    if not (a == b == c and a in (types.float32, types.float64)):
        return None

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(args[0].type, [args[0].type] * 3)
        fn = builder.module.declare_intrinsic("llvm.fma", [args[0].type], fnty)
        return builder.call(fn, args)

    return a(a, b, c), codegen


def poly_exp(x):
    """e**x: math.exp in Python; compiled, the float32 or float64 polynomial above, by
    the argument's type (within 1 ulp, and vectorizable)."""
    return math.exp(x)


@overload(poly_exp)
def _poly_exp_overload(x):
    if x == types.float32:
        return lambda x: _exp_f32(x)
    if x == types.float64:
        return lambda x: _exp_f64(x)
    return None


# Row sums: float64 accumulators, compiled with the one fast-math flag 'reassoc'
# so that LLVM may split the sum over SIMD lanes (several times faster than one
# chain of additions, and faster than hand-written lanes). The order is fixed by
# the compiled code: the same bits on every run and every thread count; a CPU
# with wider vectors may differ in the last bit.

@njit(fastmath={"reassoc"})
def row_sum(a):
    """sum(a) accumulated in float64. (a: (n,), any float dtype)"""
    s = 0.0
    for j in range(a.shape[0]):
        s += a[j]
    return s


@njit(fastmath={"reassoc", "contract"})
def row_dot(a, b):
    """sum(a * b) accumulated in float64, each product formed in float64. (a, b: (n,))"""
    s = 0.0
    for j in range(a.shape[0]):
        s += np.float64(a[j]) * np.float64(b[j])
    return s


@njit(fastmath={"reassoc", "contract"})
def row_sum_dot(a, b):
    """(sum(a), sum(a * b)) accumulated in float64: one pass over memory, not two. (a, b: (n,))"""
    s1 = 0.0
    s2 = 0.0
    for j in range(a.shape[0]):
        v = np.float64(a[j])
        s1 += v
        s2 += v * np.float64(b[j])
    return s1, s2


@njit(fastmath={"reassoc", "contract"})
def row_moments(a, k):
    """(sum(a - k), sum((a - k)^2)) accumulated in float64, k a float64. (a: (n,))

    With k = a[0], a value of the row, the variance sum((a - mean)^2) / n is
    s2 / n - (s1 / n)^2 without cancellation to speak of: (k - mean)^2 is at
    most n times the variance, so the float64 result loses at most log10(n)
    digits, and the row is read once instead of twice.
    """
    s1 = 0.0
    s2 = 0.0
    for j in range(a.shape[0]):
        d = np.float64(a[j]) - k
        s1 += d
        s2 += d * d
    return s1, s2


@njit
def row_max(a):
    """max(a), -inf for an empty a. (a: (n,)) With a NaN in a the result is some element of
    a; the kernels that use it (softmax, cross-entropy) give NaN for that row all the same,
    through exp(NaN - max)."""
    m = a.dtype.type(-math.inf)
    for j in range(a.shape[0]):
        m = _max_no_nan(m, a[j])
    return m
