"""Random LDS generators, exact simulation (vs an independent NumPy loop), the stream and npz files."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmlab.core.fftconv import causal_conv_mixing
from ssmlab.data import lds as L
from ssmlab.data import make_task


def _reference(lds, u, *, readout="post", x0=None):
    """Plain Python loop over time in float64 NumPy, written independently of the library."""
    x = np.zeros(lds.state_size) if x0 is None else np.array(x0, dtype=float)
    ys = []
    for t in range(u.shape[0]):
        if readout == "post":
            x = lds.a @ x + lds.b @ u[t]
            ys.append(lds.c @ x + lds.d @ u[t])
        else:
            ys.append(lds.c @ x + lds.d @ u[t])
            x = lds.a @ x + lds.b @ u[t]
    return np.stack(ys)


def _rel(x, y):
    return float(np.max(np.abs(np.asarray(x) - np.asarray(y))) / max(np.max(np.abs(np.asarray(y))), 1e-300))


SYSTEMS = {
    "paper": dict(),
    "flash": dict(state_size=5, d_in=2, d_out=3),
    "symmetric": dict(state_size=6, d_in=2, d_out=1),
    "stable": dict(state_size=5, d_in=1, d_out=2, spectral_radius=0.99),
    "complex": dict(state_size=6, d_in=3, d_out=2),
}


# ---------------------------------------------------------------- generators
def test_paper_system_structure():
    lds = L.paper_lds(seed=3)
    assert (lds.state_size, lds.d_in, lds.d_out) == (4, 3, 3)
    assert lds.is_diagonal and lds.is_symmetric
    np.testing.assert_array_equal(np.abs(np.diag(lds.a)), np.full(4, 0.9999))
    assert np.count_nonzero(lds.d - np.diag(np.diag(lds.d))) == 0
    assert lds.spectral_radius == pytest.approx(0.9999, abs=1e-15)
    again = L.paper_lds(seed=3)
    for m in "abcd":
        np.testing.assert_array_equal(getattr(lds, m), getattr(again, m))
    assert not np.array_equal(lds.b, L.paper_lds(seed=4).b)


def test_paper_system_distributions():
    systems = [L.paper_lds(seed=s) for s in range(300)]
    signs = np.concatenate([np.sign(np.diag(s.a)) for s in systems])
    bc = np.concatenate([np.concatenate([s.b.ravel(), s.c.ravel()]) for s in systems])
    dd = np.concatenate([np.diag(s.d) for s in systems])
    # 1200 fair signs: std of the mean is 0.029; 7200 / 900 unit Gaussians.
    assert abs(signs.mean()) < 0.12
    assert abs(bc.mean()) < 0.05 and abs(bc.var() - 1.0) < 0.08
    assert abs(dd.mean()) < 0.15 and abs(dd.var() - 1.0) < 0.2


def test_symmetric_spectrum_in_range():
    lds = L.random_symmetric_lds(seed=0, state_size=12, d_in=2, d_out=2, eig_min=-0.5, eig_max=1.0)
    assert lds.is_symmetric and not lds.is_diagonal
    ev = lds.eigenvalues
    assert ev.min() >= -0.5 - 1e-12 and ev.max() <= 1.0 + 1e-12
    # The eigenvalues are the drawn λ: recompute them with the same draw order.
    lam = np.random.default_rng(0).uniform(-0.5, 1.0, size=12)
    np.testing.assert_allclose(np.sort(ev), np.sort(lam), rtol=0, atol=1e-13)
    diag = L.random_symmetric_lds(seed=0, state_size=12, d_in=2, d_out=2, diagonal=True)
    assert diag.is_diagonal


def test_stable_and_complex_spectra():
    st = L.random_stable_lds(seed=1, state_size=8, d_in=2, d_out=2, spectral_radius=0.97)
    assert not st.is_symmetric
    assert st.spectral_radius == pytest.approx(0.97, rel=1e-12)
    cx = L.random_complex_lds(seed=2, state_size=8, d_in=1, d_out=1, r_min=0.8, r_max=0.99, max_phase=np.pi)
    ev = cx.eigenvalues
    assert np.all(np.abs(ev) >= 0.8 - 1e-12) and np.all(np.abs(ev) <= 0.99 + 1e-12)
    np.testing.assert_allclose(np.sort_complex(ev), np.sort_complex(np.conj(ev)), atol=1e-12)
    assert np.all(np.abs(ev.imag) > 0)
    fl = L.flash_lds(seed=3, state_size=50, d_in=2, d_out=2)
    mags = np.abs(np.diag(fl.a))
    assert fl.is_diagonal and mags.min() >= 0.1 and mags.max() <= 1.0
    assert {-1.0, 1.0} == set(np.sign(np.diag(fl.a)))
    np.testing.assert_array_equal(fl.d, 0.0)


def test_make_lds_by_name_and_generator_seed():
    for kind, opts in SYSTEMS.items():
        assert L.make_lds(kind, seed=0, **opts).kind == kind
    rng = np.random.default_rng(5)
    assert L.paper_lds(seed=rng).state_size == 4


# ---------------------------------------------------------------- simulation
@pytest.mark.parametrize("kind", sorted(SYSTEMS))
@pytest.mark.parametrize("readout", ["post", "pre"])
@pytest.mark.parametrize("length", [1, 129])
def test_simulate_matches_numpy_loop(kind, readout, length):
    lds = L.make_lds(kind, seed=length, **SYSTEMS[kind])
    rng = np.random.default_rng(length)
    u = rng.standard_normal((length, lds.d_in))
    x0 = rng.standard_normal(lds.state_size)
    ref = _reference(lds, u, readout=readout, x0=x0)
    methods = ["dense"] + (["sequential", "associative"] if lds.is_symmetric else [])
    for method in methods:
        y = L.simulate(lds, jnp.asarray(u), readout=readout, x0=jnp.asarray(x0), method=method)
        assert y.dtype == jnp.float64 and y.shape == (length, lds.d_out)
        assert _rel(y, ref) < 1e-12, (method, _rel(y, ref))


@pytest.mark.parametrize("readout", ["post", "pre"])
def test_simulate_equals_markov_convolution(readout):
    # Also exercises method="auto" (modal sequential for this diagonal system).
    """Third route: causal convolution with the Markov parameters (computed with matrix_power here)."""
    lds = L.paper_lds(seed=7)
    length = 300
    h = np.stack([
        (lds.d if i == 0 else 0.0)
        + (lds.c @ np.linalg.matrix_power(lds.a, i - (readout == "pre")) @ lds.b
           if (i >= 1 or readout == "post") else 0.0)
        for i in range(length)
    ])
    np.testing.assert_allclose(L.markov_parameters(lds, length=length, readout=readout), h, rtol=1e-12, atol=1e-13)
    u = np.random.default_rng(0).standard_normal((length, 3))
    y_conv = causal_conv_mixing(jnp.asarray(u), jnp.asarray(h))
    assert _rel(L.simulate(lds, jnp.asarray(u), readout=readout), y_conv) < 1e-12


def test_marginal_system_keeps_its_memory():
    """With ρ = 0.9999 the impulse response barely decays over 4096 steps: 0.9999^4095 ≈ 0.664."""
    lds = L.paper_lds(seed=0)
    h = L.markov_parameters(lds, length=4096)
    lds_d0 = L.LDS(lds.a, lds.b, lds.c, np.zeros_like(lds.d))
    g = L.markov_parameters(lds_d0, length=4096)
    ratio = np.linalg.norm(g[-1]) / np.linalg.norm(g[1])
    assert 0.3 < ratio < 1.0
    np.testing.assert_allclose(h[4095], lds.c @ np.diag(np.diag(lds.a) ** 4095) @ lds.b, rtol=1e-11)


def test_float32_simulation_is_close_and_keeps_dtype():
    lds = L.paper_lds(seed=1)
    u = np.random.default_rng(1).standard_normal((1024, 3))
    ref = _reference(lds, u)
    y32 = L.simulate(lds, jnp.asarray(u, jnp.float32))
    assert y32.dtype == jnp.float32
    # Marginal system: float32 rounding accumulates over L = 1024 steps; measured ~1e-6 relative.
    assert _rel(y32, ref) < 1e-4


def test_simulate_under_jit_vmap_grad():
    lds = L.random_symmetric_lds(seed=0, state_size=4, d_in=2, d_out=2)
    us = jnp.asarray(np.random.default_rng(0).standard_normal((3, 20, 2)))
    f = jax.jit(jax.vmap(lambda u: L.simulate(lds, u, method="associative")))
    ys = f(us)
    for i in range(3):
        assert _rel(ys[i], _reference(lds, np.asarray(us[i]))) < 1e-12
    # The output is linear in u, so the gradient of sum(y * w) w.r.t. u is exactly the adjoint map.
    w = jnp.asarray(np.random.default_rng(1).standard_normal((20, 2)))
    g = jax.grad(lambda u: jnp.sum(L.simulate(lds, u) * w))(us[0])
    h = L.markov_parameters(lds, length=20)
    g_ref = np.zeros((20, 2))
    for s in range(20):
        for t in range(s, 20):
            g_ref[s] += h[t - s].T @ np.asarray(w[t])
    np.testing.assert_allclose(np.asarray(g), g_ref, rtol=1e-11, atol=1e-12)


# ---------------------------------------------------------------- stream and task
def test_stream_is_seeded_and_exact():
    lds = L.paper_lds(seed=0)
    st = L.LDSStream(lds, seq_len=33, batch_size=2, seed=4, dtype="float64")
    b0, b0_again, b1 = st.batch(0), st.batch(0), st.batch(1)
    np.testing.assert_array_equal(b0["x"], b0_again["x"])
    assert not np.array_equal(b0["x"], b1["x"])
    assert b0["x"].shape == (2, 33, 3) and b0["y"].shape == (2, 33, 3) and b0["y"].dtype == np.float64
    for i in range(2):
        assert _rel(b0["y"][i], _reference(lds, b0["x"][i])) < 1e-12
    it = iter(st)
    np.testing.assert_array_equal(next(it)["y"], b0["y"])
    np.testing.assert_array_equal(next(it)["y"], b1["y"])
    x, y = st.arrays(3, start=1)
    assert x.shape == (6, 33, 3)
    np.testing.assert_array_equal(y[:2], b1["y"])
    assert not np.array_equal(L.LDSStream(lds, seq_len=33, batch_size=2, seed=5).batch(0)["x"], b0["x"])


def test_stream_float32_targets_come_from_float64_simulation():
    lds = L.random_stable_lds(seed=2, state_size=6, d_in=2, d_out=2, spectral_radius=0.999)
    st = L.LDSStream(lds, seq_len=500, batch_size=1, seed=0, readout="pre")
    b = st.batch(0)
    assert b["y"].dtype == np.float32
    ref = _reference(lds, b["x"][0].astype(np.float64), readout="pre")
    # x is the float32 cast of the float64 inputs, so compare with float32 resolution.
    assert _rel(b["y"][0], ref) < 1e-5
    noisy = L.LDSStream(lds, seq_len=500, batch_size=1, seed=0, readout="pre", noise_std=0.1).batch(0)
    resid = noisy["y"] - b["y"]
    assert 0.08 < float(np.std(resid)) < 0.12


def test_lds_task():
    task = make_task("lds", seq_len=16, num_train=4, num_test=2, kind="symmetric", state_size=3, d_in=1, d_out=1)
    assert task.train.x.shape == (4, 16, 1) and task.test.y.shape == (2, 16, 1)
    assert task.num_classes == 0 and task.pooling == "none" and task.input_dim == 1


# ---------------------------------------------------------------- files
def test_save_load_roundtrip(tmp_path):
    lds = L.random_complex_lds(seed=9, state_size=4, d_in=2, d_out=3)
    path = L.save(lds, tmp_path / "sys.npz")
    back = L.load(path)
    for m in "abcd":
        np.testing.assert_array_equal(getattr(back, m), getattr(lds, m))
    assert back.kind == "complex"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sys.npz"]  # no temporary left behind
    L.save(L.paper_lds(seed=0), path)  # overwrite in place
    assert L.load(path).kind == "paper"


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no LDS file"):
        L.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable"):
        L.load(junk)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.eye(2))
    with pytest.raises(ValueError, match="not an ssmlab LDS file"):
        L.load(other)
    partial = tmp_path / "partial.npz"
    np.savez(partial, a=np.eye(2), b=np.ones((2, 1)), format=np.array("ssmlab.lds/1"))
    with pytest.raises(ValueError, match="lacks the arrays"):
        L.load(partial)
    bad = tmp_path / "bad.npz"
    np.savez(bad, a=np.eye(2), b=np.ones((3, 1)), c=np.ones((1, 2)), d=np.ones((1, 1)), format=np.array("ssmlab.lds/1"))
    with pytest.raises(ValueError, match="invalid LDS.*B must have shape"):
        L.load(bad)
    with pytest.raises(ValueError, match=r"\.npz"):
        L.save(L.paper_lds(seed=0), tmp_path / "sys.txt")


# ---------------------------------------------------------------- errors
def test_clear_errors():
    lds = L.paper_lds(seed=0)
    with pytest.raises(ValueError, match="A must be square"):
        L.LDS(np.ones((2, 3)), np.ones((2, 1)), np.ones((1, 2)), np.ones((1, 1)))
    with pytest.raises(ValueError, match="D must have shape"):
        L.LDS(np.eye(2), np.ones((2, 1)), np.ones((1, 2)), np.ones((2, 1)))
    with pytest.raises(ValueError, match="NaN"):
        L.LDS(np.eye(2) * np.nan, np.ones((2, 1)), np.ones((1, 2)), np.ones((1, 1)))
    with pytest.raises(ValueError, match="must be real"):
        L.LDS(np.eye(2) * 1j, np.ones((2, 1)), np.ones((1, 2)), np.ones((1, 1)))
    with pytest.raises(ValueError, match="d_in must equal d_out"):
        L.paper_lds(seed=0, d_in=2, d_out=3)
    with pytest.raises(ValueError, match="seed"):
        L.paper_lds(seed=-1)
    with pytest.raises(ValueError, match="state_size must be even"):
        L.random_complex_lds(seed=0, state_size=3, d_in=1, d_out=1)
    with pytest.raises(ValueError, match="kind must be one of"):
        L.make_lds("nope", seed=0)
    with pytest.raises(ValueError, match=r"u must have shape \[L, d_in\] = \[L, 3\]"):
        L.simulate(lds, jnp.ones((5, 2)))
    with pytest.raises(ValueError, match="readout"):
        L.simulate(lds, jnp.ones((5, 3)), readout="mid")
    dense = L.random_stable_lds(seed=0, state_size=3, d_in=3, d_out=3)
    with pytest.raises(ValueError, match="method='dense'"):
        L.simulate(dense, jnp.ones((5, 3)), method="associative")
    with pytest.raises(ValueError, match="x0 must have shape"):
        L.simulate(lds, jnp.ones((5, 3)), x0=jnp.ones(3))
    with pytest.raises(ValueError, match="seq_len"):
        L.LDSStream(lds, seq_len=0)
    with pytest.raises(ValueError, match="step"):
        L.LDSStream(lds, seq_len=4).batch(-1)


def test_lds_regression_task_is_the_paper_system_with_three_disjoint_splits():
    from ssmlab.data import make_task
    from ssmlab.data.lds import paper_lds, simulate_batch

    task = make_task("lds-regression", seq_len=12, num_train=4, num_val=2, num_test=3, seed=5)
    assert (len(task.train), len(task.validation), len(task.test)) == (4, 2, 3)
    assert task.objective == "per_step_regression" and task.output_dim == 3 and task.pooling == "none"
    lds = paper_lds(seed=0)
    for part in (task.train, task.validation, task.test):
        np.testing.assert_allclose(part.y, simulate_batch(lds, part.x.astype(np.float64)), rtol=1e-5, atol=1e-5)
    assert not np.allclose(task.train.x[:2], task.validation.x)
