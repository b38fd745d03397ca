"""Dtype and edge-size table for the public API (issue 19): every case computes right or refuses by name.

Each public core function and layer runs over the dtypes {int32, bf16, float16, float32, float64,
complex64} and edge sizes (L = 1, kernel length Lk = L, Lk > L). A case either agrees with an
independent float64 NumPy reference (computed from the inputs *after* the cast to the dtype, so
only the computation is judged) to the dtype's tolerance and returns the documented dtype, or
raises ValueError/TypeError from a frame inside ssmlab that names the argument. The decisions
are recorded in docs/reliability.md ("Dtypes and edge cases"); `DECISIONS` below is that table.
"""

from __future__ import annotations

import functools
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import ssmlab
from ssmlab.core import (
    causal_conv_spectrum,
    causal_output_frequency,
    fft_size,
    periodic_output,
    truncated_kernel_spectrum,
)

I32, BF16, F16, F32, F64, C64 = (jnp.dtype(d) for d in
                                 (jnp.int32, jnp.bfloat16, jnp.float16, jnp.float32, jnp.float64, jnp.complex64))
DTYPES = (I32, BF16, F16, F32, F64, C64)
TOL = {I32: 1e-10, BF16: 3e-2, F16: 4e-3, F32: 2e-5, F64: 1e-10, C64: 2e-5}  # relative to max(1, max|ref|)
SIZES = ((1, 1), (4, 4), (3, 5))  # (L, Lk): L = 1, Lk = L, Lk > L
# `make test` budget: eager dispatch compiles every primitive once per (dtype, shape), so the fast
# table crosses dtypes at one size and sizes at float64 (padding bugs are dtype-independent, cast
# bugs size-independent); the full cross product runs under `-m slow`.
# float16 takes the same path as bfloat16 (computed in float32, cast back), so it runs in the full grid only.
FAST_GRID = tuple((dt, SIZES[2]) for dt in (I32, BF16, F32, F64, C64)) + tuple((F64, s) for s in SIZES[:2])
FULL_GRID = tuple((dt, s) for dt in DTYPES for s in SIZES)
GRIDS = [pytest.param(FAST_GRID, id="fast"), pytest.param(FULL_GRID, id="full", marks=pytest.mark.slow)]
FLOAT_OUT = {I32: F64, BF16: BF16, F16: F16, F32: F32, F64: F64, C64: C64}  # ints -> default float (x64 on)
REAL_ONLY = "real"  # decision for complex input to a real-valued map: TypeError naming the argument

# (case, dtype) -> decision; "ok" = computes, else the argument named in the error.
DECISIONS = {("causal_conv_mixing", C64): "u", ("causal_conv_spectrum", C64): "u",
             ("causal_output_frequency", C64): "u", ("periodic_output", C64): "u",
             ("spectral_filters", I32): "dtype", ("spectral_filters", C64): "dtype",
             ("hankel_matvec", C64): "x"}
LAYERS = ("LinearSSM/recurrent", "LinearSSM/convolution", "LinearSSM/frequency", "LRU", "S4D", "STU", "STUApprox")
for _layer in LAYERS:
    DECISIONS[(_layer, C64)] = "u"
    DECISIONS[(_layer + " ctor", I32)] = "dtype"
    DECISIONS[(_layer + " ctor", C64)] = "dtype"


@functools.cache
def J(fn):
    """`fn` under one shared `eqx.filter_jit`: one compile per (dtype, shape) instead of one per primitive."""
    return eqx.filter_jit(fn)


def draw(rng, shape, dtype, kind="normal"):
    """Random inputs cast to `dtype`: 'normal', 'stable' (|a| < 1; ints are 0) or 'negative' (Re a < 0)."""
    if jnp.issubdtype(dtype, jnp.integer):
        x = {"normal": rng.integers(-3, 4, shape), "stable": np.zeros(shape, int),
             "negative": -rng.integers(1, 3, shape)}[kind]
        return jnp.asarray(x, dtype)
    if kind == "normal":
        x = rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if dtype == C64 else 0)
    elif kind == "stable":
        x = rng.uniform(-0.8, 0.8, shape) * (np.exp(1j * rng.uniform(0, np.pi, shape)) if dtype == C64 else 1)
    else:
        x = -rng.uniform(0.5, 2.0, shape) + (1j * rng.standard_normal(shape) if dtype == C64 else 0)
    return jnp.asarray(x, dtype)


def f64(x):
    """The exact values of `x` as a NumPy float64 / complex128 array (the reference's input)."""
    x = np.asarray(jnp.asarray(x).astype(jnp.complex128 if jnp.iscomplexobj(x) else jnp.float64))
    return x


def conv_ref(u, k):
    """y_t = Σ_{s <= t, s < Lk} k_s u_{t-s} by a double loop (any trailing shape, k [Lk, ...] matching u)."""
    y = np.zeros(u.shape, np.result_type(u, k))
    for t in range(u.shape[0]):
        for s in range(min(t + 1, k.shape[0])):
            y[t] += k[s] * u[t - s]
    return y


def mixing_ref(u, k):
    y = np.zeros((u.shape[0], k.shape[1]), np.result_type(u, k))
    for t in range(u.shape[0]):
        for s in range(min(t + 1, k.shape[0])):
            y[t] += k[s] @ u[t - s]
    return y


def kernel_ref(a, b, c, length):
    """K_t = c diag(a^t) b for [N] / [N, Hin] / [Hout, N] inputs (b, c made 2-D)."""
    b2, c2 = (b[:, None] if b.ndim == 1 else b), (c[None, :] if c.ndim == 1 else c)
    return np.stack([c2 @ np.diag(a**t) @ b2 for t in range(length)])


def recurrence_ref(a, bu):
    x, out = np.zeros(bu.shape[1], np.result_type(a, bu)), []
    for t in range(bu.shape[0]):
        x = a * x + bu[t]
        out.append(x)
    return np.stack(out)


# --- core cases: each returns (output, reference) for one dtype and size ---------------------

def case_causal_conv(rng, dt, L, Lk):
    u, k = draw(rng, (L, 2), dt), draw(rng, (Lk, 2), dt)
    return J(ssmlab.causal_conv)(u, k), conv_ref(f64(u), f64(k)), FLOAT_OUT[dt]


def case_causal_conv_mixing(rng, dt, L, Lk):
    u, k = draw(rng, (L, 2), dt), draw(rng, (Lk, 3, 2), dt)
    return J(ssmlab.causal_conv_mixing)(u, k), mixing_ref(f64(u), f64(k).real), FLOAT_OUT[dt]


def case_causal_conv_spectrum(rng, dt, L, Lk):
    u, k = draw(rng, (L, 2), dt), rng.standard_normal((Lk, 2))
    n = fft_size(L + Lk - 1)
    spec = jnp.asarray(np.fft.rfft(k, n, axis=0))
    return J(causal_conv_spectrum)(u, spec, n=n), conv_ref(f64(u), k), FLOAT_OUT[dt]


def case_linear_recurrence(rng, dt, L, Lk):
    a, bu = draw(rng, (3,), dt, "stable"), draw(rng, (L, 3), dt)
    return J(ssmlab.linear_recurrence)(a, bu), recurrence_ref(f64(a), f64(bu)), FLOAT_OUT[dt]


def case_ssm_kernel(rng, dt, L, Lk):
    a, b, c = draw(rng, (3,), dt, "stable"), draw(rng, (3, 2), dt), draw(rng, (2, 3), dt)
    return J(ssmlab.ssm_kernel)(a, b, c, length=Lk), kernel_ref(f64(a), f64(b), f64(c), Lk), FLOAT_OUT[dt]


def _complex_out(dt):
    return jnp.promote_types(FLOAT_OUT[dt], jnp.complex64)


def case_frequency_response(rng, dt, L, Lk):
    a, b, c = draw(rng, (3,), dt, "stable"), draw(rng, (3,), dt), draw(rng, (3,), dt)
    z = np.exp(-2j * np.pi * np.arange(L) / L)
    ref = np.array([np.sum(f64(c) * f64(b) / (1 - zk * f64(a))) for zk in z])
    return J(ssmlab.frequency_response)(a, b, c, length=L), ref, _complex_out(dt)


def case_truncated_kernel_spectrum(rng, dt, L, Lk):
    a, b, c = draw(rng, (3,), dt, "stable"), draw(rng, (3, 2), dt), draw(rng, (1, 3), dt)
    n = fft_size(L + Lk - 1)
    ref = np.fft.fft(kernel_ref(f64(a), f64(b), f64(c), Lk), n, axis=0)[: n // 2 + 1]
    return J(truncated_kernel_spectrum)(a, b, c, length=Lk, n=n), ref, _complex_out(dt)


def _system(rng, dt, L):
    a, b, c = draw(rng, (3,), dt, "stable"), draw(rng, (3, 2), dt), draw(rng, (2, 3), dt)
    return a, b, c, draw(rng, (L, 2), dt)


def case_causal_output_frequency(rng, dt, L, Lk):
    a, b, c, u = _system(rng, dt, L)
    ref = mixing_ref(f64(u), kernel_ref(f64(a), f64(b), f64(c), L).real)
    return J(causal_output_frequency)(a, b, c, u), ref, FLOAT_OUT[dt]


def case_periodic_output(rng, dt, L, Lk):
    a, b, c, u = _system(rng, dt, L)
    z = np.exp(-2j * np.pi * np.arange(L) / L)
    h = np.stack([f64(c) @ np.diag(1 / (1 - zk * f64(a))) @ f64(b) for zk in z])
    ref = np.fft.ifft(np.einsum("koi,ki->ko", h, np.fft.fft(f64(u), axis=0)), axis=0).real
    return J(periodic_output)(a, b, c, u), ref, FLOAT_OUT[dt]


def _discretize(rule, rng, dt, L, Lk):
    a, b = draw(rng, (L,), dt, "negative"), draw(rng, (L, 2), dt)
    a64, b64, step = f64(a), f64(b), 0.1
    if rule == "zoh":
        a_bar, scale = np.exp(step * a64), (np.exp(step * a64) - 1) / a64
    else:
        a_bar, scale = (1 + step * a64 / 2) / (1 - step * a64 / 2), step / (1 - step * a64 / 2)
    out = J(getattr(ssmlab, rule))(a, b, step)
    return jnp.concatenate([out[0][:, None], out[1]], axis=1), np.concatenate([a_bar[:, None], scale[:, None] * b64],
                                                                             axis=1), FLOAT_OUT[dt]


def case_zoh(rng, dt, L, Lk):
    return _discretize("zoh", rng, dt, L, Lk)


def case_bilinear(rng, dt, L, Lk):
    return _discretize("bilinear", rng, dt, L, Lk)


def _hankel_ref(L):
    """Z[i, j] = 2 / ((i+j)^3 - (i+j)), 1-based, by a double loop [STU, eq. (3)]."""
    return np.array([[2.0 / ((i + j) ** 3 - (i + j)) for j in range(1, L + 1)] for i in range(1, L + 1)])


def filters_ref(L, K):
    """Top-K eigenpairs of Z by NumPy eigh, each φ_k flipped so its largest-|entry| is positive."""
    w, v = np.linalg.eigh(_hankel_ref(L))
    w, v = w[::-1][:K], v[:, ::-1][:, :K]
    return w, v * np.sign(v[np.argmax(np.abs(v), axis=0), np.arange(K)])[None, :]


def case_spectral_filters(rng, dt, L, Lk):
    K = min(L, 2)
    sigma, phi = ssmlab.spectral_filters(seq_len=Lk, num_filters=K, dtype=dt, warn=False)
    w, v = filters_ref(Lk, K)
    out = jnp.asarray(np.concatenate([sigma[None, :], phi * np.maximum(sigma, 0)[None, :] ** 0.25]))
    ref = np.concatenate([w[None, :], v * np.maximum(w, 0)[None, :] ** 0.25])
    return out, ref, dt


def case_hankel_matvec(rng, dt, L, Lk):
    x = draw(rng, (Lk, 2), dt)
    return jnp.asarray(ssmlab.hankel_matvec(np.asarray(x))), _hankel_ref(Lk) @ f64(x), F64


def case_hankel_matrix(rng, dt, L, Lk):  # no array input: dtype-independent, sizes only
    return jnp.asarray(ssmlab.hankel_matrix(seq_len=Lk)), _hankel_ref(Lk), F64


CORE = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def check_refusal(excinfo, argument: str) -> None:
    """The error names the argument and is raised from ssmlab code, not from deep inside JAX."""
    assert argument in str(excinfo.value), str(excinfo.value)
    raiser = str(excinfo.traceback[-1].path)
    assert f"ssmlab{os.sep}" in raiser, f"raised from {raiser}: {excinfo.value}"


def check_close(out, ref, out_dtype, dt) -> None:
    assert jnp.dtype(out.dtype) == jnp.dtype(out_dtype), (out.dtype, out_dtype)
    got = f64(out)
    assert np.all(np.isfinite(got))
    err = np.max(np.abs(got - ref)) if ref.size else 0.0
    assert err <= TOL[dt] * max(1.0, float(np.max(np.abs(ref)))), (err, TOL[dt])


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("name", sorted(CORE))
def test_core_dtype_table(name, grid):
    """Every public core function over every dtype and edge size: right answer or a named refusal."""
    rng = np.random.default_rng(0)
    for dt, (L, Lk) in grid:
        decision = DECISIONS.get((name, dt), "ok")
        if True:
            if decision == "ok":
                _check_case(name, rng, dt, L, Lk)
            else:
                with pytest.raises((TypeError, ValueError)) as excinfo:
                    CORE[name](rng, dt, L, Lk)
                check_refusal(excinfo, decision)


def _check_case(name, rng, dt, L, Lk):
    out, ref, out_dtype = CORE[name](rng, dt, L, Lk)
    try:
        check_close(out, ref, out_dtype, dt)
    except AssertionError as err:
        raise AssertionError(f"{name} dtype={dt} L={L} Lk={Lk}: {err}") from None


# --- layers ------------------------------------------------------------------------------------
# Call rows: a float32 layer applied to u of each dtype (L = 3 < seq_len, plus L = 1 and L = seq_len
# at float64). Constructor rows: the layer built with `dtype` and applied to u of that dtype.

SEQ_LEN, H, N, K_FILTERS = 4, 2, 4, 2
LAYER_FAST = ((I32, 3), (F32, 3), (C64, 3), (F64, 1), (F64, SEQ_LEN))  # bf16 u: the bf16 constructor row
LAYER_FULL = tuple((dt, L) for dt in DTYPES for L in (1, 3, SEQ_LEN))
CTOR_FAST, CTOR_FULL = (I32, BF16, F64, C64), DTYPES
LAYER_GRIDS = [pytest.param((LAYER_FAST, CTOR_FAST), id="fast"),
               pytest.param((LAYER_FULL, CTOR_FULL), id="full", marks=pytest.mark.slow)]
apply = eqx.filter_jit(lambda layer, u: layer(u))  # one compile per layer structure and dtype


def build(name, dtype):
    key = jr.key(3)
    if name.startswith("LinearSSM"):
        mode = name.split("/")[1]
        return ssmlab.LinearSSM(state_size=N, d_model=H, complex_state=True, mode=mode, dtype=dtype, key=key)
    if name == "LRU":
        return ssmlab.LRU(state_size=N, d_model=H, r_max=0.9, dtype=dtype, key=key)
    if name == "S4D":
        return ssmlab.S4D(d_model=H, state_size=N, dtype=dtype, key=key)
    cls = ssmlab.STU if name == "STU" else ssmlab.STUApprox
    return cls(d_model=H, seq_len=SEQ_LEN, num_filters=K_FILTERS, preset="flash", dtype=dtype, key=key)


def p64(x):
    return None if x is None else f64(x)


def linear_ssm_ref(m, u):
    a = p64(m.a_re) + (0 if m.a_im is None else 1j * p64(m.a_im))
    b = p64(m.b_re) + 1j * p64(m.b_im)
    c = p64(m.c_re) + 1j * p64(m.c_im)
    return (c @ recurrence_ref(a, u @ b.T).T).T.real + u @ p64(m.d).T


def lru_ref(m, u):
    lam = np.exp(-np.exp(p64(m.nu_log)) + 1j * np.exp(p64(m.theta_log)))
    b = np.exp(p64(m.gamma_log))[:, None] * (p64(m.b_re) + 1j * p64(m.b_im))
    c = p64(m.c_re) + 1j * p64(m.c_im)
    return (recurrence_ref(lam, u @ b.T) @ c.T).real + p64(m.d)[None, :] * u


def s4d_ref(m, u):
    a = -np.exp(p64(m.log_a_real)) + 1j * p64(m.a_imag)
    dt = np.exp(p64(m.log_dt))[:, None]
    a_bar = np.exp(dt * a)
    b_bar = (a_bar - 1) / a * (p64(m.b_re) + 1j * p64(m.b_im))
    c = p64(m.c_re) + 1j * p64(m.c_im)
    k = np.stack([2 * np.sum(c * b_bar * a_bar**ell, axis=1).real for ell in range(u.shape[0])])
    return conv_ref(u, k) + p64(m.d)[None, :] * u


def flash_kernels(L):
    """κ⁺_k = σ_k^{1/4} φ_k, κ⁻_k(j) = (-1)^j κ⁺_k(j) (delay 0, both branches) [STU, eq. (4)], [L, 2K]."""
    w, v = filters_ref(SEQ_LEN, K_FILTERS)
    plus = v * w[None, :] ** 0.25
    return np.concatenate([plus, ((-1.0) ** np.arange(SEQ_LEN))[:, None] * plus], axis=1)[:L]


def stu_ref(m, u):
    kappa = flash_kernels(u.shape[0])
    m_phi = np.concatenate([p64(m.m_phi_plus), p64(m.m_phi_minus)])  # [J, Hin, Hout]
    feats = np.stack([conv_ref(u, np.repeat(kappa[:, j:j + 1], u.shape[1], 1)) for j in range(kappa.shape[1])])
    return np.einsum("jti,jio->to", feats, m_phi)


def stu_approx_ref(m, u):
    kappa = flash_kernels(u.shape[0])
    v = u @ p64(m.m_inputs)
    m_f = np.concatenate([p64(m.m_filters_plus), p64(m.m_filters_minus)])  # [J, Hout]
    return sum(conv_ref(v, np.repeat(kappa[:, j:j + 1], v.shape[1], 1)) * m_f[j][None, :]
               for j in range(kappa.shape[1]))


LAYER_REFS = {"LinearSSM/recurrent": linear_ssm_ref, "LinearSSM/convolution": linear_ssm_ref,
              "LinearSSM/frequency": linear_ssm_ref, "LRU": lru_ref, "S4D": s4d_ref, "STU": stu_ref,
              "STUApprox": stu_approx_ref}


def _check_layer(name, layer, u, out_dtype, tol):
    out = apply(layer, u)
    ref = LAYER_REFS[name](layer, f64(u))
    try:
        assert jnp.dtype(out.dtype) == jnp.dtype(out_dtype), (out.dtype, out_dtype)
        err = np.max(np.abs(f64(out) - ref))
        assert err <= tol * max(1.0, float(np.max(np.abs(ref)))), (err, tol)
    except AssertionError as err:
        raise AssertionError(f"{name} u {u.dtype} {u.shape}, params {layer_dtype(layer)}: {err}") from None


def layer_dtype(layer):
    return jax.tree_util.tree_leaves(eqx.filter(layer, eqx.is_array))[0].dtype


@pytest.mark.parametrize("grid", LAYER_GRIDS)
@pytest.mark.parametrize("name", LAYERS)
def test_layer_dtype_table(name, grid):
    """Each layer: float32 layer on u of every dtype, and the layer built in every dtype."""
    calls, ctors = grid
    rng = np.random.default_rng(0)
    layer32 = build(name, jnp.float32)
    for dt, L in calls:
        u = draw(rng, (L, H), dt)
        if DECISIONS.get((name, dt), "ok") != "ok":
            with pytest.raises((TypeError, ValueError)) as excinfo:
                layer32(u)
            check_refusal(excinfo, DECISIONS[(name, dt)])
            continue
        # float32 parameters bound the accuracy even for float64/int inputs.
        _check_layer(name, layer32, u, jnp.promote_types(FLOAT_OUT[dt], F32), max(TOL[dt], TOL[F32]))
    for dt in ctors:
        decision = DECISIONS.get((name + " ctor", dt), "ok")
        if decision != "ok":
            with pytest.raises((TypeError, ValueError)) as excinfo:
                build(name, dt)
            check_refusal(excinfo, decision)
            continue
        layer = build(name, dt)
        leaves = jax.tree_util.tree_leaves(eqx.filter(layer, eqx.is_inexact_array))
        assert {leaf.dtype for leaf in leaves} == {dt}, (name, dt, {leaf.dtype for leaf in leaves})
        _check_layer(name, layer, draw(rng, (3, H), dt), dt, TOL[dt])


@pytest.mark.parametrize("make", [
    lambda: ssmlab.LinearSSM(state_size=4.0, d_model=2, key=jr.key(0)),
    lambda: ssmlab.LRU(state_size=4.0, d_model=2, key=jr.key(0)),
    lambda: ssmlab.S4D(d_model=2, state_size=4.0, key=jr.key(0)),
    lambda: ssmlab.STU(d_model=2, seq_len=8, num_filters=2.0, key=jr.key(0)),
], ids=["LinearSSM", "LRU", "S4D", "STU"])
def test_float_sizes_are_refused_by_name(make):
    """A float size fails at the argument: ssmlab's ValueError, or (tests only) the jaxtyping `int` hint."""
    with pytest.raises((TypeError, ValueError)) as excinfo:
        make()
    name = "num_filters" if "num_filters" in str(excinfo.value) else "state_size"
    assert name in str(excinfo.value), str(excinfo.value)
    assert isinstance(excinfo.value, ValueError) or "jaxtyping" in type(excinfo.value).__module__


UNSTABLE = jnp.array([0.5, 1.2])


@pytest.mark.parametrize("fn", [
    lambda a: ssmlab.frequency_response(a, jnp.ones(2), jnp.ones(2), length=4),
    lambda a: truncated_kernel_spectrum(a, jnp.ones(2), jnp.ones(2), length=4, n=8),
    lambda a: ssmlab.LinearSSM.from_arrays(a, jnp.ones((2, 1)), jnp.ones((1, 2)), mode="frequency")(jnp.ones((4, 1))),
], ids=["frequency_response", "truncated_kernel_spectrum", "LinearSSM.frequency"])
def test_stability_is_checked_eagerly_and_inside_jit(fn):
    """|a| >= 1: ValueError eagerly; inside jit the same named error at run time, never numbers."""
    with pytest.raises(ValueError, match="a must be strictly stable"):
        fn(UNSTABLE)
    with pytest.raises(eqx.EquinoxRuntimeError, match="a must be strictly stable"):
        eqx.filter_jit(fn)(UNSTABLE)
    with pytest.raises(Exception, match="a must be strictly stable"):  # plain jax.jit: JaxRuntimeError
        jax.block_until_ready(jax.jit(fn)(UNSTABLE))
    assert np.all(np.isfinite(np.asarray(jax.jit(fn)(jnp.array([0.5, -0.9])))))
