r"""Random linear dynamical systems (LDS), their exact simulation, a streaming dataset and npz files.

An LDS with state size N, inputs u_t ∈ R^{d_in} and outputs y_t ∈ R^{d_out} [STU, eq. (1)]:

    post-update readout (default):  x_t = A x_{t-1} + B u_t,   y_t = C x_t + D u_t,   x_{-1} = x0
    pre-update readout (eq. 1):     y_t = C x_t + D u_t,       x_{t+1} = A x_t + B u_t, x_0 = x0

so with x0 = 0 the output is a causal convolution with the Markov parameters
    post: h_0 = D + C B,  h_i = C A^i B          pre: h_0 = D,  h_i = C A^{i-1} B   (i >= 1).
The paper's App. A proof (and HSZ17) use the post-update readout; eq. (1) as printed is the pre-update one.

Generators (all real systems; seeded with a numpy `seed`, which may also be a `numpy.random.Generator`):

* `paper_lds`: the marginally-stable system of [STU, §3.1]: N = 4, d_in = d_out = 3, B, C iid N(0, 1),
  D diagonal with iid N(0, 1) entries, A = diag(0.9999 ξ) with ξ_i random signs (stability margin δ = 1e-4).
* `flash_lds`: flash-stu-2's `random_LDS`: diagonal A with |a| ~ U[0.1, 1] and random signs,
  B ~ N(0, 1)/d_in, C ~ N(0, 1)/N, no D.
* `random_symmetric_lds` (A = Q diag(λ) Qᵀ, λ ~ U[eig_min, eig_max]), `random_stable_lds` (dense non-normal
  Gaussian A rescaled to a given spectral radius), `random_complex_lds` (real A = Q R Qᵀ, R block-diagonal
  rotations, i.e. complex-conjugate eigenvalue pairs drawn on an annulus as in the LRU ring init).

`simulate` runs the recurrence in JAX: diagonal or symmetric A through the modal form and
`core.scan.linear_recurrence` (sequential or associative), any A through a dense `lax.scan`.
`LDSStream` yields seeded (input, output) batches of any length; `save`/`load` keep a system in an npz file.
`seed_streams` and `held_out_set` are the LDS studies' training streams and held-out sequences.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array

from .._atomic import atomic_savez
from ..core.checks import check_length
from ..core.scan import linear_recurrence
from .dataset import ArrayDataset, Task, register_task

Readout = Literal["post", "pre"]
_READOUTS = ("post", "pre")
_METHODS = ("auto", "dense", "sequential", "associative")
_FORMAT = "ssmlab.lds/1"
SeedLike = int | np.random.Generator


def _as_matrix(name: str, x) -> np.ndarray:
    arr = np.asarray(x)
    if np.iscomplexobj(arr):
        raise ValueError(f"LDS matrix {name} must be real; got dtype {arr.dtype}. Use a real (block) form.")
    if arr.ndim != 2:
        raise ValueError(f"LDS matrix {name} must be 2-D; got shape {arr.shape}.")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"LDS matrix {name} contains NaN/inf values.")
    arr.setflags(write=False)
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class LDS:
    """A real LDS (A [N, N], B [N, d_in], C [d_out, N], D [d_out, d_in]) held as read-only float64 numpy arrays."""

    a: np.ndarray | Array
    b: np.ndarray | Array
    c: np.ndarray | Array
    d: np.ndarray | Array
    kind: str = "custom"

    def __post_init__(self):
        for name in ("a", "b", "c", "d"):
            object.__setattr__(self, name, _as_matrix(name.upper(), getattr(self, name)))
        n = self.a.shape[0]
        if n < 1 or self.a.shape != (n, n):
            raise ValueError(f"A must be square [N, N] with N >= 1; got {self.a.shape}.")
        if self.b.shape[0] != n:
            raise ValueError(f"B must have shape [N, d_in] with N = {n} (rows of A); got {self.b.shape}.")
        if self.c.shape[1] != n:
            raise ValueError(f"C must have shape [d_out, N] with N = {n} (columns of A); got {self.c.shape}.")
        if self.d.shape != (self.c.shape[0], self.b.shape[1]):
            raise ValueError(
                f"D must have shape [d_out, d_in] = {(self.c.shape[0], self.b.shape[1])} to match C and B; "
                f"got {self.d.shape}."
            )

    @property
    def state_size(self) -> int:
        """N, the state dimension."""
        return self.a.shape[0]

    @property
    def d_in(self) -> int:
        """Input channels."""
        return self.b.shape[1]

    @property
    def d_out(self) -> int:
        """Output channels."""
        return self.c.shape[0]

    @property
    def is_diagonal(self) -> bool:
        """True when A has no off-diagonal entries."""
        return not np.any(self.a - np.diag(np.diag(self.a)))

    @property
    def is_symmetric(self) -> bool:
        """True when A equals its transpose exactly."""
        return bool(np.array_equal(self.a, self.a.T))

    @property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of A (real for symmetric A, sorted ascending; complex otherwise)."""
        if self.is_symmetric:
            return np.linalg.eigvalsh(self.a)
        return np.linalg.eigvals(self.a)

    @property
    def spectral_radius(self) -> float:
        """ρ(A) = max |λ_i(A)|; ρ <= 1 is marginal stability, the paper's stability constant is 1/(1 - ρ)."""
        return float(np.max(np.abs(self.eigenvalues)))


def _rng(seed: SeedLike) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int or a numpy Generator; got {seed!r}.")
    return np.random.default_rng(int(seed))


def _check_dims(state_size: int, d_in: int, d_out: int) -> None:
    for name, value in (("state_size", state_size), ("d_in", d_in), ("d_out", d_out)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")


def _random_orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """Haar-distributed orthogonal Q from the QR of a Gaussian matrix with the signs of diag(R) fixed."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)[None, :]


def _io_matrices(rng, state_size, d_in, d_out, use_d: bool):
    b = rng.standard_normal((state_size, d_in)) / np.sqrt(d_in)
    c = rng.standard_normal((d_out, state_size)) / np.sqrt(state_size)
    d = rng.standard_normal((d_out, d_in)) / np.sqrt(d_in) if use_d else np.zeros((d_out, d_in))
    return b, c, d


def paper_lds(*, seed: SeedLike, state_size: int = 4, d_in: int = 3, d_out: int = 3, delta: float = 1e-4) -> LDS:
    """Marginally-stable A = diag((1 - δ) ξ), ξ_i = ±1; B, C, diag(D) iid N(0, 1) [STU, §3.1].

    Draw order (fixed, so a seed always gives the same system): ξ, B, C, diag(D).
    """
    _check_dims(state_size, d_in, d_out)
    if d_in != d_out:
        raise ValueError(f"the paper's D is diagonal, so d_in must equal d_out; got d_in={d_in}, d_out={d_out}.")
    if not 0.0 <= delta < 1.0:
        raise ValueError(f"delta must be in [0, 1) (|A_ii| = 1 - delta); got {delta!r}.")
    rng = _rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=state_size)
    b = rng.standard_normal((state_size, d_in))
    c = rng.standard_normal((d_out, state_size))
    d = np.diag(rng.standard_normal(d_out))
    return LDS(np.diag((1.0 - delta) * signs), b, c, d, kind="paper")


def flash_lds(
    *, seed: SeedLike, state_size: int, d_in: int, d_out: int, min_abs: float = 0.1, max_abs: float = 1.0
) -> LDS:
    """Diagonal A, |a_i| ~ U[min_abs, max_abs], random signs; B ~ N(0,1)/d_in, C ~ N(0,1)/N, D = 0.

    As flash-stu-2's `random_LDS` (its code's `lds.py`; the [FlashSTU] line of work)."""
    _check_dims(state_size, d_in, d_out)
    if not 0.0 <= min_abs <= max_abs:
        raise ValueError(f"need 0 <= min_abs <= max_abs; got min_abs={min_abs!r}, max_abs={max_abs!r}.")
    rng = _rng(seed)
    mags = rng.uniform(min_abs, max_abs, size=state_size)
    signs = rng.choice(np.array([-1.0, 1.0]), size=state_size)
    b = rng.standard_normal((state_size, d_in)) / d_in
    c = rng.standard_normal((d_out, state_size)) / state_size
    return LDS(np.diag(mags * signs), b, c, np.zeros((d_out, d_in)), kind="flash")


def random_symmetric_lds(
    *, seed: SeedLike, state_size: int, d_in: int, d_out: int, eig_min: float = -1.0, eig_max: float = 1.0,
    diagonal: bool = False, use_d: bool = True,
) -> LDS:
    """Symmetric A = Q diag(λ) Qᵀ, λ_i ~ U[eig_min, eig_max] (Q Haar, or I if `diagonal`); B, C, D Gaussian (ours)."""
    _check_dims(state_size, d_in, d_out)
    if not eig_min <= eig_max:
        raise ValueError(f"need eig_min <= eig_max; got {eig_min!r} > {eig_max!r}.")
    rng = _rng(seed)
    lam = rng.uniform(eig_min, eig_max, size=state_size)
    if diagonal:
        a = np.diag(lam)
    else:
        q = _random_orthogonal(rng, state_size)
        a = (q * lam[None, :]) @ q.T
        a = 0.5 * (a + a.T)  # exactly symmetric, so `is_symmetric` and the modal simulator apply
    return LDS(a, *_io_matrices(rng, state_size, d_in, d_out, use_d), kind="symmetric")


def random_stable_lds(
    *, seed: SeedLike, state_size: int, d_in: int, d_out: int, spectral_radius: float = 0.9, use_d: bool = True
) -> LDS:
    """Dense (non-normal) A = ρ G / ρ(G) with G iid N(0, 1), so ρ(A) = spectral_radius; B, C, D Gaussian (ours)."""
    _check_dims(state_size, d_in, d_out)
    if not spectral_radius >= 0.0:
        raise ValueError(f"spectral_radius must be >= 0; got {spectral_radius!r}.")
    rng = _rng(seed)
    g = rng.standard_normal((state_size, state_size))
    a = g * (spectral_radius / np.max(np.abs(np.linalg.eigvals(g))))
    return LDS(a, *_io_matrices(rng, state_size, d_in, d_out, use_d), kind="stable")


def random_complex_lds(
    *, seed: SeedLike, state_size: int, d_in: int, d_out: int, r_min: float = 0.9, r_max: float = 1.0,
    max_phase: float = np.pi, use_d: bool = True,
) -> LDS:
    """Real A = Q blockdiag(r_j R(θ_j)) Qᵀ: eigenvalues r_j e^{±iθ_j}, |λ|² ~ U[r_min², r_max²], θ ~ U[0, max_phase).

    Our choice: a normal (orthogonally block-diagonalisable) real system with complex-conjugate eigenvalue pairs.
    """
    _check_dims(state_size, d_in, d_out)
    if state_size % 2:
        raise ValueError(f"state_size must be even (eigenvalues come in conjugate pairs); got {state_size}.")
    if not 0.0 <= r_min <= r_max:
        raise ValueError(f"need 0 <= r_min <= r_max; got r_min={r_min!r}, r_max={r_max!r}.")
    rng = _rng(seed)
    m = state_size // 2
    r = np.sqrt(rng.uniform(r_min**2, r_max**2, size=m))
    theta = rng.uniform(0.0, max_phase, size=m)
    blocks = np.zeros((state_size, state_size))
    idx = 2 * np.arange(m)
    blocks[idx, idx] = blocks[idx + 1, idx + 1] = r * np.cos(theta)
    blocks[idx, idx + 1] = -r * np.sin(theta)
    blocks[idx + 1, idx] = r * np.sin(theta)
    q = _random_orthogonal(rng, state_size)
    return LDS(q @ blocks @ q.T, *_io_matrices(rng, state_size, d_in, d_out, use_d), kind="complex")


_KINDS = {
    "paper": paper_lds,
    "flash": flash_lds,
    "symmetric": random_symmetric_lds,
    "stable": random_stable_lds,
    "complex": random_complex_lds,
}


def make_lds(kind: str, *, seed: SeedLike, **options) -> LDS:
    """Build a random LDS by name: "paper", "flash", "symmetric", "stable" or "complex"."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}; got {kind!r}.")
    return _KINDS[kind](seed=seed, **options)


def markov_parameters(lds: LDS, *, length: int, readout: str = "post") -> np.ndarray:
    """Impulse response h [length, d_out, d_in]: post h_0 = D + CB, h_i = C A^i B; pre h_0 = D, h_i = C A^{i-1} B."""
    check_length("length", length)
    if readout not in _READOUTS:
        raise ValueError(f"readout must be one of {_READOUTS}; got {readout!r}.")
    h = np.zeros((length, lds.d_out, lds.d_in))
    h[0] = lds.d
    ab = lds.b
    first = 0 if readout == "post" else 1
    for i in range(first, length):  # numpy, not traced: powers of A applied one at a time
        h[i] = h[i] + lds.c @ ab
        ab = lds.a @ ab
    return h


def _modal_form(a: np.ndarray, is_diagonal: bool):
    """(λ, V) with A = V diag(λ) Vᵀ for diagonal or symmetric A (V orthogonal)."""
    if is_diagonal:
        return np.diag(a).copy(), np.eye(a.shape[0])
    lam, v = np.linalg.eigh(a)
    return lam, v


def _dense_states(a, bu, x0):
    """x_t = A x_{t-1} + bu_t by `lax.scan` with the dense A."""

    def step(x, b_t):
        x = a @ x + b_t
        return x, x

    return lax.scan(step, x0, bu)[1]


def _simulate_arrays(a, b, c, d, u, x0, *, readout: str, mode: str, lam=None, v=None):
    """Outputs y [L, d_out] of the LDS (arrays already cast to one dtype)."""
    bu = u @ b.T
    if mode == "dense":
        states = _dense_states(a, bu, x0)
    else:
        z = linear_recurrence(lam, bu @ v, x0=x0 @ v, method=mode)
        states = z @ v.T
    if readout == "pre":
        states = jnp.concatenate([x0[None, :], states[:-1]], axis=0)
    return states @ c.T + u @ d.T


def simulate(
    lds: LDS,
    u,
    *,
    readout: str = "post",
    x0=None,
    method: str = "auto",
) -> Array:
    """Exact outputs y `[L, d_out]` of the LDS on u `[L, d_in]` [STU, eq. (1); post-update readout of App. A].

    Args:
        lds: the system.
        u: inputs [L, d_in], float; the result has u's dtype (the system is cast to it, so float32 runs
            accumulate rounding error that grows with L when ρ(A) is close to 1).
        readout: "post" (x_t = A x_{t-1} + B u_t, y_t = C x_t + D u_t) or "pre" (y_t from the state
            before u_t is applied, eq. (1) as printed).
        x0: initial state [N] (x_{-1} for "post", x_0 for "pre"); zeros if omitted.
        method: "dense" (`lax.scan` with the dense A, any A), "sequential"/"associative" (modal form
            through `linear_recurrence`, needs a diagonal or symmetric A), or "auto" (modal sequential
            when possible, else dense).

    Returns:
        y: [L, d_out] in u's dtype. Batches: `jax.vmap(lambda u: simulate(lds, u))(us)`.
    """
    if readout not in _READOUTS:
        raise ValueError(f"readout must be one of {_READOUTS}; got {readout!r}.")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
    u = jnp.asarray(u)
    if u.ndim != 2 or u.shape[1] != lds.d_in or u.shape[0] < 1:
        raise ValueError(
            f"u must have shape [L, d_in] = [L, {lds.d_in}] with L >= 1; got {tuple(u.shape)}. "
            "For a batch use jax.vmap over the leading axis."
        )
    if not jnp.issubdtype(u.dtype, jnp.floating):
        raise ValueError(f"u must be a real floating array; got dtype {u.dtype}. Cast it, e.g. u.astype(float).")
    modal = lds.is_diagonal or lds.is_symmetric
    if method == "auto":
        method = "sequential" if modal else "dense"
    if method != "dense" and not modal:
        raise ValueError(
            f"method={method!r} diagonalises A orthogonally, which needs a diagonal or symmetric A; "
            "use method='dense' (or 'auto') for this system."
        )
    dtype = u.dtype
    x0 = jnp.zeros((lds.state_size,), dtype) if x0 is None else jnp.asarray(x0, dtype)
    if x0.shape != (lds.state_size,):
        raise ValueError(f"x0 must have shape [N] = ({lds.state_size},); got {tuple(x0.shape)}.")
    a, b, c, d = (jnp.asarray(m, dtype) for m in (lds.a, lds.b, lds.c, lds.d))
    lam = v = None
    if method != "dense":
        lam_np, v_np = _modal_form(lds.a, lds.is_diagonal)
        lam, v = jnp.asarray(lam_np, dtype), jnp.asarray(v_np, dtype)
    return _simulate_arrays(a, b, c, d, u, x0, readout=readout, mode=method, lam=lam, v=v)


@jax.jit(static_argnames=("readout", "mode"))
def _simulate_batch(a, b, c, d, lam, v, us, *, readout: str, mode: str):
    x0 = jnp.zeros((a.shape[0],), us.dtype)
    one = lambda u: _simulate_arrays(a, b, c, d, u, x0, readout=readout, mode=mode, lam=lam, v=v)  # noqa: E731
    return jax.vmap(one)(us)


@dataclasses.dataclass(frozen=True, eq=False)
class LDSStream:
    """Seeded stream of {'x': u [B, L, d_in], 'y': y [B, L, d_out]} batches with u iid N(0, input_std²) (ours).

    Batch `step` depends only on (seed, step): inputs come from `numpy.random.default_rng([seed, step])`
    and the outputs are simulated exactly in float64 (then cast to `dtype`), so any batch can be
    regenerated without replaying the stream. `noise_std > 0` adds iid Gaussian noise to y.
    """

    lds: LDS
    seq_len: int
    batch_size: int = 1
    seed: int = 0
    readout: str = "post"
    input_std: float = 1.0
    noise_std: float = 0.0
    dtype: str = "float32"

    def __post_init__(self):
        check_length("seq_len", self.seq_len)
        check_length("batch_size", self.batch_size)
        _rng(self.seed)
        if self.readout not in _READOUTS:
            raise ValueError(f"readout must be one of {_READOUTS}; got {self.readout!r}.")
        if not (self.input_std > 0 and self.noise_std >= 0):
            raise ValueError(f"need input_std > 0 and noise_std >= 0; got {self.input_std!r}, {self.noise_std!r}.")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64'; got {self.dtype!r}.")

    def batch(self, step: int) -> dict[str, np.ndarray]:
        """The batch number `step` (>= 0) of the stream."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"step must be a non-negative int; got {step!r}.")
        rng = np.random.default_rng([self.seed, int(step)])
        u = self.input_std * rng.standard_normal((self.batch_size, self.seq_len, self.lds.d_in))
        y = simulate_batch(self.lds, u, readout=self.readout)
        if self.noise_std > 0:
            y = y + self.noise_std * rng.standard_normal(y.shape)
        return {"x": u.astype(self.dtype), "y": y.astype(self.dtype)}

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        """Batches 0, 1, 2, ... without end."""
        step = 0
        while True:
            yield self.batch(step)
            step += 1

    def arrays(self, num_batches: int, *, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Batches start .. start + num_batches - 1 concatenated: x [num_batches·B, L, d_in], y [..., d_out]."""
        check_length("num_batches", num_batches)
        parts = [self.batch(start + i) for i in range(num_batches)]
        return np.concatenate([p["x"] for p in parts]), np.concatenate([p["y"] for p in parts])


def simulate_batch(lds: LDS, us, *, readout: str = "post") -> np.ndarray:
    """Outputs [B, L, d_out] for inputs us [B, L, d_in], computed in float64 whatever the x64 setting (numpy out)."""
    us = np.asarray(us, np.float64)
    if us.ndim != 3 or us.shape[2] != lds.d_in or us.shape[1] < 1:
        raise ValueError(f"us must have shape [B, L, d_in] = [B, L, {lds.d_in}]; got {us.shape}.")
    if readout not in _READOUTS:
        raise ValueError(f"readout must be one of {_READOUTS}; got {readout!r}.")
    modal = lds.is_diagonal or lds.is_symmetric
    lam_np, v_np = _modal_form(lds.a, lds.is_diagonal) if modal else (None, None)
    # Targets of marginally-stable systems need float64 accumulation, so turn it on locally.
    with jax.enable_x64(True):
        arrs = [None if m is None else jnp.asarray(m, jnp.float64) for m in (lds.a, lds.b, lds.c, lds.d, lam_np, v_np)]
        y = _simulate_batch(*arrs, jnp.asarray(us), readout=readout, mode="sequential" if modal else "dense")
        return np.asarray(y)


HELD_OUT_STREAM = 999
"""Stream offset of the LDS studies' held-out sequences: seed 1000·seed + 999 (training streams use + 0, 1, ...)."""


def seed_streams(lds: LDS, *, seq_len: int, chunk: int, num_streams: int, seed: int = 0, readout: str = "post",
                 dtype: str = "float32"):
    """`data(c)` for `train.sweep.train_sweep`: chunk c of `num_streams` batch-1 streams (the LDS studies' data).

    Stream s is `LDSStream(seed=1000·seed + s, batch_size=chunk)`; its batch c holds the `chunk` fresh
    sequences of steps c·chunk .. (c+1)·chunk - 1, returned as {"x": [chunk, S, 1, L, d_in], "y": [chunk, S,
    1, L, d_out]} (step, stream, batch of one sequence).
    """
    check_length("num_streams", num_streams)
    streams = [LDSStream(lds, seq_len=seq_len, batch_size=chunk, seed=1000 * seed + s, readout=readout, dtype=dtype)
               for s in range(num_streams)]

    def data(c: int) -> dict[str, np.ndarray]:
        parts = [st.batch(c) for st in streams]
        return {k: np.stack([p[k] for p in parts], 1)[:, :, None] for k in ("x", "y")}

    return data


def held_out_set(lds: LDS, *, seq_len: int, num_sequences: int, seed: int = 0, readout: str = "post",
                 dtype: str = "float32") -> tuple[dict[str, np.ndarray], float]:
    """({"x": [E, L, d_in], "y": [E, L, d_out]} from the held-out stream (`HELD_OUT_STREAM`), normaliser E[y²]).

    E[y²] is the mean square of the held-out outputs (float64): the MSE of the zero predictor, by which the
    studies divide to report a normalised MSE.
    """
    b = LDSStream(lds, seq_len=seq_len, batch_size=num_sequences, seed=1000 * seed + HELD_OUT_STREAM,
                  readout=readout, dtype=dtype).batch(0)
    return b, float(np.mean(b["y"].astype(np.float64) ** 2))


def save(lds: LDS, path: str | os.PathLike) -> Path:
    """Write the system to `path` (.npz) atomically: a temporary file in the same folder, then `os.replace`."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"path must end in .npz (numpy archive); got {str(path)!r}.")
    if not path.parent.is_dir():
        raise ValueError(f"folder {str(path.parent)!r} does not exist; create it before saving.")
    return atomic_savez(path, a=lds.a, b=lds.b, c=lds.c, d=lds.d, kind=np.array(lds.kind),
                        format=np.array(_FORMAT))


def load(path: str | os.PathLike) -> LDS:
    """Read a system written by `save`, checking the format tag, the keys, shapes and finiteness."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no LDS file at {str(path)!r}; write one with ssmlab.data.lds.save.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise ValueError(f"{str(path)!r} is not a readable .npz archive ({err}); re-create it with save().") from err
    fmt = str(data.get("format", ""))
    if fmt != _FORMAT:
        raise ValueError(f"{str(path)!r} is not an ssmlab LDS file (format tag {fmt!r}, expected {_FORMAT!r}).")
    missing = [k for k in ("a", "b", "c", "d") if k not in data]
    if missing:
        raise ValueError(f"{str(path)!r} lacks the arrays {missing}; re-create it with save().")
    try:
        return LDS(data["a"], data["b"], data["c"], data["d"], kind=str(data.get("kind", "custom")))
    except ValueError as err:
        raise ValueError(f"{str(path)!r} holds an invalid LDS: {err}") from err


@register_task("lds")
def lds_task(
    *, kind: str = "paper", system_seed: int = 0, seq_len: int = 1024, num_train: int = 1024, num_test: int = 256,
    seed: int = 0, readout: str = "post", **lds_options,
) -> Task:
    """Regression task: map u [L, d_in] to the LDS output y [L, d_out] (sequence-to-sequence, no pooling)."""
    lds = make_lds(kind, seed=system_seed, **lds_options)
    train = LDSStream(lds, seq_len=seq_len, batch_size=num_train, seed=seed, readout=readout).batch(0)
    test = LDSStream(lds, seq_len=seq_len, batch_size=num_test, seed=seed, readout=readout).batch(1)
    return Task(
        name="lds", train=ArrayDataset(train["x"], train["y"]), test=ArrayDataset(test["x"], test["y"]),
        input_kind="real", num_classes=0, seq_len=seq_len, input_dim=lds.d_in, output_dim=lds.d_out, pooling="none",
        objective="per_step_regression",
    )


@register_task("lds-regression")
def lds_regression_task(
    *, system_seed: int = 0, seq_len: int = 256, num_train: int = 256, num_val: int = 32, num_test: int = 64,
    seed: int = 0, readout: str = "post",
) -> Task:
    """The marginally-stable LDS study's data (`paper_lds`, N = 4, 3 -> 3, ρ = 0.9999) as per-step regression.

    Inputs u ~ N(0, I) [L, 3] and exact outputs y [L, 3] (float64 simulation, stored as float32); train,
    validation and test are batches 0, 1, 2 of one seeded `LDSStream`, so they are disjoint draws. The
    objective is the per-step MSE (`ssmlab.train.objectives.PerStepRegression`; NMSE = 1 is the error
    of predicting the mean)."""
    lds = paper_lds(seed=system_seed)
    sets = []
    for i, num in enumerate((num_train, num_val, num_test)):
        b = LDSStream(lds, seq_len=seq_len, batch_size=num, seed=seed, readout=readout).batch(i)
        sets.append(ArrayDataset(b["x"], b["y"]))
    return Task(name="lds-regression", train=sets[0], validation=sets[1], test=sets[2], input_kind="real",
                num_classes=0, seq_len=seq_len, input_dim=lds.d_in, output_dim=lds.d_out, pooling="none",
                objective="per_step_regression")
