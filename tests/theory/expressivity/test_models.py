"""Deep linear SSM models, norms, series realisation (R1) and the width bounds (R5)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmlab.theory.expressivity import (
    DeepLinearSSM,
    SISOLayer,
    deep_to_shallow,
    l1_gain,
    layer_impulse_response,
    layer_norm,
    layer_output,
    min_shallow_width,
    parameter_norm,
    random_shallow_ssm,
    shallow_from_residues,
    shallow_gain_bound,
    shallow_width_lower_bound,
)

_jit_layer_output = jax.jit(layer_output)


def numpy_impulse(poles, residues, d, length):
    """Reference h_0 = d, h_t = Re Σ r λ^{t-1} from explicit powers (numpy)."""
    t = np.arange(1, length)
    tail = np.real((residues[None, :] * poles[None, :] ** (t[:, None] - 1)).sum(axis=1))
    return np.concatenate([[d], tail])[:length]


def recurrence_impulse(model, length):
    """Impulse response by pushing δ through each layer's time-domain recurrence (jitted per layer)."""
    u = jnp.zeros(length).at[0].set(1.0)
    for lay in model.plain().layers:
        u = _jit_layer_output(lay, u)
    return np.asarray(u)


def random_layer(rng, width_pairs, n_real, radius=0.95):
    lam = rng.uniform(0.3, radius, width_pairs) * np.exp(1j * rng.uniform(0.1, 3.0, width_pairs))
    poles = np.concatenate([lam, lam.conj(), rng.uniform(-radius, radius, n_real)])
    b = np.concatenate([z := rng.normal(size=width_pairs) + 1j * rng.normal(size=width_pairs), z.conj(),
                        rng.normal(size=n_real)])
    c = np.concatenate([w := rng.normal(size=width_pairs) + 1j * rng.normal(size=width_pairs), w.conj(),
                        rng.normal(size=n_real)])
    return SISOLayer(poles, b, c, rng.normal())


def random_deep(seed, depth):
    rng = np.random.default_rng(seed)
    return DeepLinearSSM([random_layer(rng, int(rng.integers(0, 2)), int(rng.integers(0, 2)) + 0) if i % 2
                          else random_layer(rng, 1, 0) for i in range(depth)])


def rel(x, y):
    return float(np.max(np.abs(np.asarray(x) - np.asarray(y))) / np.max(np.abs(np.asarray(y))))


@pytest.mark.parametrize("length", [1, 2, 7, 64])
def test_layer_impulse_response_matches_powers(length):
    rng = np.random.default_rng(length)
    lay = random_layer(rng, 2, 1)
    h = layer_impulse_response(lay, length=length)
    ref = numpy_impulse(np.asarray(lay.a), np.asarray(lay.residues), float(lay.d), length)
    np.testing.assert_allclose(np.asarray(h), ref, rtol=0, atol=1e-13 * np.abs(ref).max())


def test_gain_layer_and_width_zero():
    empty = np.zeros(0, complex)
    model = DeepLinearSSM([SISOLayer(empty, empty, empty, -2.5), random_layer(np.random.default_rng(0), 1, 0)])
    assert model.widths == (0, 2) and model.parameter_count == 1 + 7
    h = model.impulse_response(length=50)
    assert rel(h, -2.5 * recurrence_impulse(DeepLinearSSM(model.layers[1:]), 50)) < 1e-13


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_deep_impulse_three_routes(seed):
    """FFT composition of truncated responses == layer-by-layer recurrence == DFT of the transfer function."""
    model = random_deep(seed, 4)
    L = 512  # poles <= 0.95: the tail 0.95^512 ~ 4e-12 relative, below the DFT comparison tolerance
    h_fft = np.asarray(model.impulse_response(length=L))
    h_rec = recurrence_impulse(model, L)
    assert rel(h_fft, h_rec) < 1e-12
    z = np.exp(2j * np.pi * np.arange(L) / L)
    np.testing.assert_allclose(np.fft.fft(h_fft), np.asarray(model.transfer_function(jnp.asarray(z))),
                               rtol=0, atol=1e-9 * np.abs(h_fft).sum())


def test_call_equals_impulse_convolution_and_residual_variant():
    model = random_deep(5, 3)
    rng = np.random.default_rng(1)
    u = jnp.asarray(rng.normal(size=40))
    y = np.asarray(model(u))
    h = np.asarray(model.impulse_response(length=40))
    ref = np.array([np.dot(h[: t + 1][::-1], np.asarray(u)[: t + 1]) for t in range(40)])
    assert rel(y, ref) < 1e-12
    res = DeepLinearSSM(model.layers, residual=True)
    expected = u
    for lay in model.layers:
        expected = expected + _jit_layer_output(lay, expected)
    assert rel(res(u), expected) < 1e-12
    assert rel(res.impulse_response(length=40), recurrence_impulse(res, 40)) < 1e-12
    # as_residual / plain are inverse rewrites of the same map.
    back = model.as_residual()
    assert back.residual and rel(back(u), y) < 1e-12 and rel(back.plain()(u), y) < 1e-12
    gain3 = DeepLinearSSM([SISOLayer(np.zeros(0), np.zeros(0), np.zeros(0), 3.0)])
    assert float(parameter_norm(gain3.as_residual())) == 2.0  # residual gain layer: 1 + 2 = 3 with norm 2


def test_norms_by_hand():
    lay = SISOLayer(np.array([0.5, -0.9]), np.array([3.0, 0.1]), np.array([0.2, -4.0 + 3.0j * 0]), 1.5)
    assert float(layer_norm(lay, "inf")) == pytest.approx(4.0)
    assert float(layer_norm(lay, "spectral")) == pytest.approx(np.hypot(0.2, 4.0))
    gain = SISOLayer(np.zeros(0), np.zeros(0), np.zeros(0), -7.0)
    model = DeepLinearSSM([lay, gain])
    assert float(parameter_norm(model, "inf")) == 7.0
    assert model.parameter_count == 7 + 1


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_series_realisation_R1(seed):
    model = random_deep(10 + seed, 3 + seed % 2)
    shallow = deep_to_shallow(model)
    assert shallow.depth == 1 and shallow.widths[0] == sum(model.widths)
    assert shallow.parameter_count == 3 * sum(model.widths) + 1
    assert model.parameter_count == 3 * sum(model.widths) + model.depth
    L = 1000
    assert rel(recurrence_impulse(shallow, L), model.impulse_response(length=L)) < 1e-10


def test_series_realisation_rejects_repeated_poles():
    lay = random_layer(np.random.default_rng(0), 1, 0)
    with pytest.raises(ValueError, match="distinct poles"):
        deep_to_shallow(DeepLinearSSM([lay, lay]))


@pytest.mark.parametrize("kind", ["inf", "spectral"])
def test_shallow_gain_bound_R5_holds_and_is_tight(kind):
    rng = np.random.default_rng(3)
    M, rho, n = 2.0, 0.9, 6
    for _ in range(20):
        a = rng.uniform(0, rho, n) * rng.choice([-1, 1], n)
        b, c = rng.uniform(-M, M, n), rng.uniform(-M, M, n)
        if kind == "spectral":
            b, c = b * min(1, M / np.linalg.norm(b)), c * min(1, M / np.linalg.norm(c))
        m = DeepLinearSSM([SISOLayer(a, b, c, rng.uniform(-M, M))])
        assert float(parameter_norm(m, kind)) <= M * (1 + 1e-12)
        assert float(l1_gain(m.impulse_response(length=800))) <= shallow_gain_bound(width=n, bound=M, rho=rho,
                                                                                    kind=kind)
    # Tightness: all poles at rho with aligned residues reach the bound as L -> inf.
    vec = np.full(n, M) if kind == "inf" else np.full(n, M / np.sqrt(n))
    worst = DeepLinearSSM([SISOLayer(np.full(n, rho), vec, vec, M)])
    gain = float(l1_gain(worst.impulse_response(length=800)))
    assert gain == pytest.approx(shallow_gain_bound(width=n, bound=M, rho=rho, kind=kind), rel=1e-12)


def test_width_lower_bound_inverts_gain_bound():
    M, rho = 2.0, 0.8
    for width in (1, 5, 40):
        g = shallow_gain_bound(width=width, bound=M, rho=rho)
        assert shallow_width_lower_bound(g, bound=M, rho=rho) == pytest.approx(width)


@pytest.mark.parametrize("gain", [1.0, 30.0, 300.0])
def test_min_shallow_width_R5_prime(gain):
    """Splitting each residue over ceil(|r|/M²) copies represents the target; one copy fewer cannot."""
    M = 2.0
    target = random_shallow_ssm(n_pairs=2, n_real=1, gain=gain, seed=4)
    target = shallow_from_residues(np.asarray(target.layers[0].a), np.asarray(target.layers[0].residues), 0.5)
    lay = target.layers[0]
    r, poles = np.asarray(lay.residues), np.asarray(lay.a)
    copies = np.maximum(1, np.ceil(np.abs(r) / M**2 - 1e-12)).astype(int)
    assert min_shallow_width(target, bound=M) == copies.sum()
    split = shallow_from_residues(np.repeat(poles, copies), np.repeat(r / copies, copies), 0.5)
    assert float(parameter_norm(split)) <= M * (1 + 1e-12)
    assert rel(split.impulse_response(length=300), target.impulse_response(length=300)) < 1e-12
    worst = int(np.argmax(np.abs(r) / copies))
    if copies[worst] > 1:
        assert np.abs(r[worst]) / (copies[worst] - 1) > M**2
    spectral = min_shallow_width(target, bound=M, kind="spectral")
    assert spectral == (lay.width if np.abs(r).sum() <= M**2 else np.inf)


def test_errors_name_the_argument():
    lay = random_layer(np.random.default_rng(0), 1, 0)
    with pytest.raises(ValueError, match="kind"):
        layer_norm(lay, "frobenius")
    with pytest.raises(ValueError, match="bound"):
        shallow_gain_bound(width=2, bound=0.5, rho=0.5)
    with pytest.raises(ValueError, match="rho"):
        shallow_gain_bound(width=2, bound=2.0, rho=1.0)
    with pytest.raises(ValueError, match="conjugation"):
        SISOLayer(np.array([0.5j]), np.array([1.0]), np.array([1.0]), 0.0)
    with pytest.raises(ValueError, match="share the width"):
        SISOLayer(np.array([0.5]), np.array([1.0, 2.0]), np.array([1.0]), 0.0)
    with pytest.raises(ValueError, match="non-empty"):
        DeepLinearSSM([])
    with pytest.raises(ValueError, match="depth-1"):
        min_shallow_width(DeepLinearSSM([lay, lay]), bound=2.0)
    with pytest.raises(ValueError, match="n_pairs"):
        random_shallow_ssm(n_pairs=0, n_real=0)
    with jax.enable_x64(False), pytest.raises(ValueError, match="float64"):
        deep_to_shallow(DeepLinearSSM([lay]))
