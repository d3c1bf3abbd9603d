"""GELU, compiled, with the twin's signatures (kernels/gelu.py).

The C library's erf and tanh run one element at a time, so neither is used:
  - tanh form: (1 + tanh(u)) / 2 = 1 / (1 + exp(-2u)), a sigmoid, so only the
    vectorizable poly_exp of _math is needed.
  - exact form, float32: Phi(x) = erfc(-x / sqrt 2) / 2 with erfc(a) =
    exp(-a^2) t Q(t), t = 1 / (1 + a / 2), Q a fitted polynomial (below),
    all in float32: 3.7e-7 relative for x Phi(x) over [-12, 6], tails included.
  - exact form, float64: the C library's erfc (that accuracy needs it).
The timings are in docs/kernels/numba.md.
"""
import math

import numpy as np
from numba import types
from numba.extending import overload

from . import pair
from ._jit import BLOCKS, njit, sum_blocks
from ._math import fma, poly_exp, poly_exp_pair
from .layernorm import FLUSH_ROWS

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_K = 0.044715

# An element's arithmetic (an exp and a polynomial, or a division) weighs in pair.pays
# as two: both cores from 2^15 elements. Forward+backward on Zen 5: 16.2-18.8 us on one
# core and 16.8-19.3 on two at 16K elements, 55-65 and 37-44 at 64K.
THREAD_COST = 2


# ---- Phi(x) and phi(x), vectorizable ----------------------------------------------

def fast_normal_cdf_pdf(x):
    """(Phi(x), phi(x)), phi(x) = exp(-x^2 / 2) / sqrt(2 pi): math.erfc and math.exp in
    Python (NUMBA_DISABLE_JIT); compiled, the float32 polynomial or float64 erfc below."""
    return 0.5 * math.erfc(-x * _INV_SQRT_2), _INV_SQRT_2PI * math.exp(-0.5 * x * x)


# float32: erfc(a) = exp(-a^2) t Q(t), t = 1 / (1 + a / 2), a = |x| / sqrt 2, with Q a
# degree-10 polynomial fitted to erfc(a) exp(a^2) / t for |x| <= 16 (least squares
# weighted to the largest relative error, float32 coefficients refitted one at a time;
# relative error 4e-9). The form is Numerical Recipes' erfcc, with Q in place of its
# exp(p(t)): then exp(-x^2 / 2) is computed once and is phi(x) too, so the backward
# needs one exp per element, not two. exp(-x^2 / 2) gets x^2 / 2 as an exact pair
# (fma): rounded to float32 first it would carry x^2 * 3e-8 into the tail's relative
# error. Against math.erfc: 4.4e-7 relative for x Phi(x) over [-12, 6].
_ERFCX_Q = (0.28209060430526733, 0.2822030484676361, 0.24568098783493042, 0.18270476162433624,
            0.06534285098314285, 0.010446714237332344, 0.017862437292933464,
            -0.3316802680492401, 0.4096958041191101, -0.20196527242660522, 0.03761833533644676)

# The same coefficients halved (exact in binary): the polynomial then gives Q(t) / 2.
_HALF_Q = tuple(0.5 * c for c in _ERFCX_Q)

# Past |x| = 16 the float32 Phi is 0 or 1 and phi is 0 (poly_exp_pair flushes it); clamping
# there keeps x^2 finite.
_LIM = 16.0


@njit(fastmath={"contract"})
def _half_q_f32(t):
    """Q(t) / 2 by Horner's rule, one fused multiply-add per coefficient."""
    c = _HALF_Q
    q = np.float32(c[10])
    q = q * t + np.float32(c[9])
    q = q * t + np.float32(c[8])
    q = q * t + np.float32(c[7])
    q = q * t + np.float32(c[6])
    q = q * t + np.float32(c[5])
    q = q * t + np.float32(c[4])
    q = q * t + np.float32(c[3])
    q = q * t + np.float32(c[2])
    q = q * t + np.float32(c[1])
    return q * t + np.float32(c[0])


@njit
def _half_square_f32(x):
    """(h, l) with h + l = x^2 / 2 exactly: h the float32 product, l its rounding error."""
    h = x * x
    return np.float32(0.5) * h, np.float32(0.5) * fma(x, x, -h)


# inline="always": put into the caller by Numba, as LLVM's inliner finds it too large
# and a call in the loop would stop its vectorization.
@njit(inline="always")
def _normal_cdf_pdf_f32(x):
    # A NaN x clamps to a number here, but the callers multiply by x itself: NaN all the same.
    x = min(max(x, np.float32(-_LIM)), np.float32(_LIM))
    t = np.float32(1.0) / (np.float32(1.0) + np.float32(0.5 * _INV_SQRT_2) * abs(x))
    h, l = _half_square_f32(x)
    e = poly_exp_pair(-h, -l)                                    # exp(-x^2 / 2)
    half_erfc = t * _half_q_f32(t) * e                           # erfc(|x| / sqrt 2) / 2
    cdf = half_erfc if x <= np.float32(0.0) else np.float32(1.0) - half_erfc
    return cdf, np.float32(_INV_SQRT_2PI) * e


@njit(inline="always")
def _normal_cdf_pdf_f64(x):
    # The C library's erfc, one element at a time: the float64 twin tolerance needs it.
    return 0.5 * math.erfc(-x * _INV_SQRT_2), _INV_SQRT_2PI * poly_exp(-0.5 * x * x)


@overload(fast_normal_cdf_pdf, inline="always")
def _fast_normal_cdf_pdf_overload(x):
    if x == types.float32:
        return lambda x: _normal_cdf_pdf_f32(x)
    if x == types.float64:
        return lambda x: _normal_cdf_pdf_f64(x)
    return None


# ---- one element of each form: gelu(x) and dy * gelu'(x) ---------------------------
# inline="always", as above: the loops that call them stay vectorizable. one, c, k, k3
# and lim are 1, sqrt(2/pi), 0.044715, 3 * 0.044715 and 20 in x's dtype.

@njit(inline="always", fastmath={"contract"})
def _tanh_form(xi, one, c, k):
    u = c * (xi + k * xi * xi * xi)
    return xi / (one + poly_exp(-(u + u)))                  # x (1 + tanh u) / 2


@njit(inline="always", fastmath={"contract"})
def _tanh_form_grad(dyi, xi, one, c, k, k3, lim):
    # y = x s, s = 1 / (1 + exp(-2u)) = (1 + tanh u) / 2:  dy/dx = s + 2 x s (1 - s) u'
    # Past |x| = 20 the slope is 1 or 0 to float64 precision; clamping keeps x^3 finite.
    xi = min(max(xi, -lim), lim)
    u = c * (xi + k * xi * xi * xi)
    e = poly_exp(-(u + u))
    s = one / (one + e)
    one_minus_s = one / (one + one / e)                     # not 1 - s: no cancellation as s -> 1
    du = c * (one + k3 * xi * xi)
    return dyi * (s + (xi + xi) * s * one_minus_s * du)


@njit(inline="always", fastmath={"contract"})
def _exact_form(xi):
    return xi * fast_normal_cdf_pdf(xi)[0]                  # x Phi(x)


@njit(inline="always", fastmath={"contract"})
def _exact_form_grad(dyi, xi):
    # y = x Phi(x):  dy/dx = Phi(x) + x phi(x),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    cdf, pdf = fast_normal_cdf_pdf(xi)
    return dyi * (cdf + xi * pdf)


# ---- a serial kernel over a range of elements, and its block functions -----------
# The loops run over slices: an index from range(start, stop) might be negative
# for all Numba knows, and its wraparound check stops vectorization.

@njit(fastmath={"contract"})
def _forward_range(x, y, approximate_tanh, start, stop):
    """Elements start..stop: x (n,) -> y (n,)."""
    one, c, k = x.dtype.type(1.0), x.dtype.type(_SQRT_2_OVER_PI), x.dtype.type(_K)
    xs, ys = x[start:stop], y[start:stop]                        # (stop - start,)
    if approximate_tanh:
        for i in range(xs.shape[0]):
            ys[i] = _tanh_form(xs[i], one, c, k)
    else:
        for i in range(xs.shape[0]):
            ys[i] = _exact_form(xs[i])


@njit(fastmath={"contract"})
def _backward_range(dy, x, dx, approximate_tanh, start, stop):
    """Elements start..stop: dy, x (n,) -> dx (n,)."""
    one, c, k = x.dtype.type(1.0), x.dtype.type(_SQRT_2_OVER_PI), x.dtype.type(_K)
    k3, lim = x.dtype.type(3 * _K), x.dtype.type(20.0)
    dys, xs, dxs = dy[start:stop], x[start:stop], dx[start:stop]  # (stop - start,)
    if approximate_tanh:
        for i in range(xs.shape[0]):
            dxs[i] = _tanh_form_grad(dys[i], xs[i], one, c, k, k3, lim)
    else:
        for i in range(xs.shape[0]):
            dxs[i] = _exact_form_grad(dys[i], xs[i])


@pair.block_kernel
def _forward_block(job, blk, dtype):
    """The job's arrays: x, y (n,), one row each; its flag: 1 for the tanh form."""
    x, y = pair.values(job, 0, dtype, blk), pair.values(job, 1, dtype, blk)
    _forward_range(x, y, pair.job_flag(job) != 0, 0, x.shape[0])


@pair.block_kernel
def _backward_block(job, blk, dtype):
    """The job's arrays: dy, x, dx (n,); its flag: 1 for the tanh form."""
    x = pair.values(job, 1, dtype, blk)
    _backward_range(pair.values(job, 0, dtype, blk), x, pair.values(job, 2, dtype, blk),
                    pair.job_flag(job) != 0, 0, x.shape[0])


# ---- with a bias: gelu(h + b) on rows, and the bias's gradient ---------------------
# The fused Linear -> GELU (kernels/linear_gelu.py) hands over h = x W^T (R, C) and the
# bias b (C,): the forward adds b on the way in, so out = h + b is never written; the
# backward sums the bias's gradient while it writes da, instead of a second pass.
# Rows are cut into the BLOCKS fixed blocks on one core or two (pair.py); each block sums
# its rows into a row of `partial` (BLOCKS, C) float64, added up in block order
# afterwards, so the bias's gradient has the same bits on any thread count.

# da's columns add up in x's dtype over runs of FLUSH_ROWS rows, then into float64, as
# layer norm's dweight (kernels/numba/layernorm.py, whose constant this is).


@njit(fastmath={"contract"})
def _bias_forward_rows(h, b, y, approximate_tanh, r0, r1):
    """Rows r0..r1: h (R, C), b (C,) -> y = gelu(h + b) (R, C)."""
    one, c, k = h.dtype.type(1.0), h.dtype.type(_SQRT_2_OVER_PI), h.dtype.type(_K)
    for i in range(r0, r1):
        hi, yi = h[i], y[i]                                     # (C,)
        if approximate_tanh:
            for j in range(hi.shape[0]):
                yi[j] = _tanh_form(hi[j] + b[j], one, c, k)
        else:
            for j in range(hi.shape[0]):
                yi[j] = _exact_form(hi[j] + b[j])


@njit(fastmath={"contract"})
def _bias_backward_rows(dy, h, b, da, db, approximate_tanh, r0, r1):
    """Rows r0..r1: dy, h (R, C), b (C,) -> da = dy * gelu'(h + b) (R, C); adds the rows'
    sum of da into db (C,) float64."""
    one, c, k = h.dtype.type(1.0), h.dtype.type(_SQRT_2_OVER_PI), h.dtype.type(_K)
    k3, lim = h.dtype.type(3 * _K), h.dtype.type(20.0)
    run = np.zeros(h.shape[1], h.dtype)                         # (C,) the current run of rows
    for i in range(r0, r1):
        dyi, hi, dai = dy[i], h[i], da[i]                       # (C,)
        if approximate_tanh:
            for j in range(hi.shape[0]):
                g = _tanh_form_grad(dyi[j], hi[j] + b[j], one, c, k, k3, lim)
                dai[j] = g
                run[j] += g
        else:
            for j in range(hi.shape[0]):
                g = _exact_form_grad(dyi[j], hi[j] + b[j])
                dai[j] = g
                run[j] += g
        if (i - r0) % FLUSH_ROWS == FLUSH_ROWS - 1 or i == r1 - 1:
            for j in range(run.shape[0]):
                db[j] += run[j]
            run[:] = 0


@pair.block_kernel
def _bias_forward_block(job, blk, dtype):
    """The job's arrays: h (R, C), b (C,), y (R, C); its flag: 1 for the tanh form."""
    h = pair.rows(job, 0, dtype, blk)
    _bias_forward_rows(h, pair.vector(job, 1, dtype), pair.rows(job, 2, dtype, blk),
                       pair.job_flag(job) != 0, 0, h.shape[0])


@pair.block_kernel
def _bias_backward_block(job, blk, dtype):
    """The job's arrays: dy, h (R, C), b (C,), da (R, C), partial (BLOCKS, C) float64, of
    which block blk fills row blk; its flag: 1 for the tanh form."""
    h = pair.rows(job, 1, dtype, blk)
    _bias_backward_rows(pair.rows(job, 0, dtype, blk), h, pair.vector(job, 2, dtype),
                        pair.rows(job, 3, dtype, blk), pair.vector(job, 4, np.float64, blk),
                        pair.job_flag(job) != 0, 0, h.shape[0])


def bias_gelu_forward(h, b, approximate):
    """h (R, C) C-contiguous, b (C,) -> y = gelu(h + b) (R, C)."""
    y = np.empty_like(h)
    if pair.pays(h.size, THREAD_COST):                          # rows are independent: same bits
        pair.launch(_bias_forward_block, *h.shape, h, b, y, flag=approximate == "tanh")
    else:
        _bias_forward_rows(h, b, y, approximate == "tanh", 0, h.shape[0])
    return y


def bias_gelu_backward(dy, h, b, approximate):
    """dy, h (R, C) C-contiguous, b (C,) -> da = dy * gelu'(h + b) (R, C), db = da summed over
    rows (C,). Always through pair.launch, on one core or two: db is a sum over blocks,
    added in block order, so its bits do not depend on the path."""
    da = np.empty_like(h)
    partial = np.zeros((BLOCKS, h.shape[1]))                    # (BLOCKS, C) float64
    pair.launch(_bias_backward_block, *h.shape, dy, h, b, da, partial,
                flag=approximate == "tanh", alone=not pair.pays(h.size, THREAD_COST))
    db = np.zeros(h.shape[1])                                   # (C,) float64
    sum_blocks(partial, db)
    return da, db.astype(h.dtype)


def gelu_forward(x, approximate):
    """x (any shape, C-contiguous) -> y (x's shape)."""
    y = np.empty_like(x)
    x1, y1 = x.reshape(-1), y.reshape(-1)                       # (n,) views
    if pair.pays(x.size, THREAD_COST):                          # elements are independent: same bits
        pair.launch(_forward_block, x.size, 1, x1, y1, flag=approximate == "tanh")
    else:
        _forward_range(x1, y1, approximate == "tanh", 0, x.size)
    return y


def gelu_backward(dy, x, approximate):
    """dy, x (any shape, C-contiguous) -> dx (x's shape)."""
    # dx in x's own shape, not a reshaped view: autograd then hands it to a leaf without a copy.
    dx = np.empty_like(x)
    args = (dy.reshape(-1), x.reshape(-1), dx.reshape(-1))     # (n,) views
    if pair.pays(x.size, THREAD_COST):
        pair.launch(_backward_block, x.size, 1, *args, flag=approximate == "tanh")
    else:
        _backward_range(*args, approximate == "tanh", 0, x.size)
    return dx
