r"""Exact step-by-step evaluation of a causal MIMO convolution: cached convolution and FutureFill.

The quantity generated one step at a time is

    y_t = Σ_{l=0}^{t} u_{t-l} T_l,      T [L, H_in, H_out] (row-vector convention u_t[i] T_l[i, o]),

where u_t is only known at step t (in autoregressive generation it is built from y_{t-1}). Three
exact routes, each a (plan, init, step) triple of pure functions with a NamedTuple state:

* **cached convolution**: keep the last L inputs in a shift register and contract them with T at
  every step: O(L H_in H_out) per step, O(N L) for N steps (O(N²) when L = N).
* **epoched FutureFill** [FutureFill, Epoched-FutureFill]: every B steps, the block of the last B inputs is
  convolved (one FFT of size n >= B + L - 1) with T, and its contribution to every later output is
  added to a cache ("future fill"); inside a block only the lags < B are summed directly. Per step
  O(B H_in H_out), per block O(n log n H + n H_in H_out): O(N B + (N/B) N log N) in all, minimised
  near B = sqrt(N log N), i.e. O(N^{3/2} sqrt(log N)).
* **dyadic FutureFill** (the O(L log² L) variant, Continuous-FutureFill in [FutureFill]; our tiling is
  the dyadic one of relaxed online convolution): at step
  p > 0 with p = m 2^k, m odd, the inputs [p - 2^k, p) are convolved with T_1..T_{2^{k+1}-1} by one
  FFT of size 2^{k+1} and added to the cache of the outputs [p, p + 2^k). Every pair (s, p'), s < p',
  is covered exactly once (at the level of the highest bit where s and p' differ); lag 0 is added
  at the step itself. O(N log² N) in all.

All three keep fixed-shape state (jit-friendly; `lax.cond` runs only the FFT that is due, so
un-vmapped they cost what the analysis says; under `vmap` every branch runs). The
FutureFill states index inputs by absolute position, so they hold at most L = T.shape[0] steps.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import lax

from .._typing import Array, Complex, Float, Int, MIMOKernel
from .fftconv import fft_size


class CachedConvState(NamedTuple):
    """`inputs[l]` = u_{t-l} after the step that consumed u_t (zeros before the first input)."""

    inputs: Float[Array, "L Hin"]


class FutureFillState(NamedTuple):
    """Steps taken `t`, every input so far `history[s]` = u_s, and `cache[p]` = Σ of the lags already filled."""

    t: Int[Array, ""]
    history: Float[Array, "Lh Hin"]
    cache: Float[Array, "Lc Hout"]


class EpochedPlan(NamedTuple):
    """Constants of epoched FutureFill: reversed, zero-padded lags 0..B-1 and rfft(T, n), n >= B + L - 1."""

    lags_reversed: Float[Array, "twoB Hin Hout"]
    spectrum: Complex[Array, "m Hin Hout"]


class DyadicPlan(NamedTuple):
    """Constants of dyadic FutureFill: T_0 and rfft(T_{<2^{k+1}}, 2^{k+1}) for each level k."""

    lag0: Float[Array, "Hin Hout"]
    spectra: tuple[Complex[Array, "m Hin Hout"], ...]


def cached_conv_init(kernel: MIMOKernel) -> CachedConvState:
    """Empty shift register [L, H_in] in the kernel's dtype."""
    return CachedConvState(jnp.zeros(kernel.shape[:2], kernel.dtype))


def cached_conv_step(kernel: MIMOKernel, state: CachedConvState,
                     u_t: Float[Array, " Hin"]) -> tuple[CachedConvState, Float[Array, " Hout"]]:
    """y_t = Σ_{l<L} u_{t-l} T_l from the shift register of the last L inputs [STU, eq. (4), direct]."""
    inputs = jnp.concatenate([u_t[None].astype(state.inputs.dtype), state.inputs[:-1]], axis=0)
    return CachedConvState(inputs), jnp.einsum("li,lio->o", inputs, kernel)


def epoched_plan(kernel: MIMOKernel, *, block: int) -> EpochedPlan:
    """Constants for epoched FutureFill with epoch length `block` = B (1 <= B <= L) [FutureFill, Epoched-FutureFill]."""
    L = kernel.shape[0]
    if not isinstance(block, int) or not 1 <= block <= L:
        raise ValueError(f"block must be an integer in [1, L={L}]; got {block!r}.")
    n = fft_size(block + L - 1)
    pad = jnp.zeros((block - 1,) + kernel.shape[1:], kernel.dtype)
    rev = jnp.concatenate([kernel[:block][::-1], pad], axis=0)  # rev[B-1-tau+i] = T_{tau-i}, 0 for i > tau
    return EpochedPlan(rev, jnp.fft.rfft(kernel, n=n, axis=0))


def default_block(length: int) -> int:
    """B ≈ sqrt(L log2 L), the epoch length minimising O(L B + (L/B) L log L), clipped to [1, L]."""
    return max(1, min(length, int(round((length * max(1.0, float(jnp.log2(length)))) ** 0.5))))


def epoched_init(plan: EpochedPlan, *, length: int) -> FutureFillState:
    """Zero history [length + B, H_in] and cache [length + n, H_out] for epoched FutureFill of `length` steps."""
    B, h_in, h_out = (plan.lags_reversed.shape[0] + 1) // 2, *plan.lags_reversed.shape[1:]
    n = 2 * (plan.spectrum.shape[0] - 1)
    L = length
    dtype = plan.lags_reversed.dtype
    return FutureFillState(jnp.asarray(0, jnp.int32), jnp.zeros((L + B, h_in), dtype), jnp.zeros((L + n, h_out), dtype))


def epoched_step(plan: EpochedPlan, state: FutureFillState,
                 u_t: Float[Array, " Hin"]) -> tuple[FutureFillState, Float[Array, " Hout"]]:
    """y_p = cache_p + Σ_{j<=tau} u_{p-j} T_j, tau = p mod B; at p = mB fill the future [FutureFill, Epoched]."""
    B = (plan.lags_reversed.shape[0] + 1) // 2
    n = 2 * (plan.spectrum.shape[0] - 1)
    p = state.t
    tau = p % B
    history = state.history.at[p].set(u_t.astype(state.history.dtype))

    def fill(cache):
        seg = lax.dynamic_slice_in_dim(history, p - B, B)
        c = jnp.fft.irfft(jnp.einsum("mi,mio->mo", jnp.fft.rfft(seg, n=n, axis=0), plan.spectrum), n=n, axis=0)
        old = lax.dynamic_slice_in_dim(cache, p, n - B)
        return lax.dynamic_update_slice_in_dim(cache, old + c[B:].astype(cache.dtype), p, axis=0)

    cache = lax.cond((tau == 0) & (p > 0), fill, lambda c: c, state.cache)
    block_inputs = lax.dynamic_slice_in_dim(history, p - tau, B)
    lags = lax.dynamic_slice_in_dim(plan.lags_reversed, B - 1 - tau, B)
    y = cache[p] + jnp.einsum("bi,bio->o", block_inputs, lags)
    return FutureFillState(p + 1, history, cache), y


def dyadic_plan(kernel: MIMOKernel) -> DyadicPlan:
    """Constants for dyadic FutureFill: per level k, rfft of T_0..T_{2^{k+1}-1} (zero-padded) at size 2^{k+1}."""
    L = kernel.shape[0]
    levels = max(L - 1, 1).bit_length()  # k = 0 .. floor(log2(L-1)): the levels p < L can have
    spectra = []
    for k in range(levels):
        size = 2 ** (k + 1)
        lags = kernel[:size]
        if lags.shape[0] < size:
            lags = jnp.concatenate([lags, jnp.zeros((size - lags.shape[0],) + kernel.shape[1:], kernel.dtype)])
        spectra.append(jnp.fft.rfft(lags, n=size, axis=0))
    return DyadicPlan(kernel[0], tuple(spectra))


def dyadic_init(plan: DyadicPlan, *, length: int) -> FutureFillState:
    """Zero history [length, H_in] and cache [2 length, H_out] for dyadic FutureFill of `length` steps."""
    h_in, h_out = plan.lag0.shape
    dtype = plan.lag0.dtype
    return FutureFillState(jnp.asarray(0, jnp.int32), jnp.zeros((length, h_in), dtype),
                           jnp.zeros((2 * length, h_out), dtype))


def _trailing_zeros(p: Int[Array, ""]) -> Int[Array, ""]:
    return lax.population_count((p & -p) - 1)


def dyadic_step(plan: DyadicPlan, state: FutureFillState,
                u_t: Float[Array, " Hin"]) -> tuple[FutureFillState, Float[Array, " Hout"]]:
    """y_p = cache_p + u_p T_0; at p = m 2^k (m odd) fill outputs [p, p+2^k) from inputs [p-2^k, p) [FutureFill]."""
    p = state.t
    history = state.history.at[p].set(u_t.astype(state.history.dtype))

    def level(k):
        size = 2**k

        def fill(cache):
            seg = lax.dynamic_slice_in_dim(history, p - size, size)
            spec = jnp.einsum("mi,mio->mo", jnp.fft.rfft(seg, n=2 * size, axis=0), plan.spectra[k])
            c = jnp.fft.irfft(spec, n=2 * size, axis=0)[size:]
            old = lax.dynamic_slice_in_dim(cache, p, size)
            return lax.dynamic_update_slice_in_dim(cache, old + c.astype(cache.dtype), p, axis=0)

        return fill

    # One `lax.cond` per level, not one `lax.switch`: measured on CPU, XLA copies the whole cache through a
    # multi-branch switch at every step (O(L) per step), while each two-branch cond updates it in place.
    due = jnp.where(p == 0, -1, _trailing_zeros(p))
    cache = state.cache
    for k in range(len(plan.spectra)):
        cache = lax.cond(due == k, level(k), lambda c: c, cache)
    y = cache[p] + u_t.astype(plan.lag0.dtype) @ plan.lag0
    return FutureFillState(p + 1, history, cache), y
