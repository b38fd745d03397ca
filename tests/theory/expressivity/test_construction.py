"""Width -> depth factorisation (R2), the norm-bounded construction (R3) and the depth bounds (R4)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmlab.theory.expressivity import (
    DeepLinearSSM,
    layer_norm,
    layer_output,
    min_shallow_width,
    random_shallow_ssm,
    shallow_from_residues,
)
from ssmlab.theory.expressivity.construction import (
    depth_bound_formula,
    depth_lower_bound,
    depth_upper_bound,
    factorise,
    hinf_lower_estimate,
    minimal_depth_search,
    realise,
    shallow_to_deep,
    spec_depth_bound,
    transfer_zeros,
)

_jit_layer_output = jax.jit(layer_output)
L = 1000


def recurrence_impulse(model, length=L):
    """Target route: δ pushed through the time-domain recurrence of every layer."""
    u = jnp.zeros(length).at[0].set(1.0)
    for lay in model.plain().layers:
        u = _jit_layer_output(lay, u)
    return np.asarray(u)


def rel(x, y):
    return float(np.max(np.abs(np.asarray(x) - np.asarray(y))) / np.max(np.abs(np.asarray(y))))


TARGETS = [(0, 1, True), (1, 0, True), (2, 0, False), (1, 2, True), (3, 2, False), (4, 8, True), (8, 0, True),
           (0, 16, False)]


@pytest.mark.parametrize("n_pairs,n_real,feedthrough", TARGETS)
def test_factorisation_R2_unconstrained(n_pairs, n_real, feedthrough):
    target = random_shallow_ssm(n_pairs=n_pairs, n_real=n_real, feedthrough=feedthrough, seed=n_pairs + 7 * n_real)
    deep = shallow_to_deep(target)
    n = 2 * n_pairs + n_real
    assert deep.depth <= n and max(deep.widths) <= 2 and sum(deep.widths) == n
    assert deep.parameter_count <= 4 * n
    # Deep model: FFT composition; target: its own recurrence (independent routes).
    assert rel(deep.impulse_response(length=L), recurrence_impulse(target)) < 1e-10


def test_zeros_gain_and_relative_degree():
    for feedthrough in (True, False):
        target = random_shallow_ssm(n_pairs=2, n_real=2, feedthrough=feedthrough, seed=3)
        lay = target.layers[0]
        poles, res, d = np.asarray(lay.a), np.asarray(lay.residues), float(lay.d)
        zeros, kappa, rel_deg = transfer_zeros(poles, res, d)
        assert rel_deg == (0 if feedthrough else 1) and zeros.size == poles.size - rel_deg
        # H vanishes at every zero (partial-fraction evaluation, relative to the size of its terms) ...
        terms = res[None, :] / (zeros[:, None] - poles[None, :])
        assert np.all(np.abs(d + terms.sum(1)) <= 1e-10 * (abs(d) + np.abs(terms).sum(1)))
        # ... and H = κ Π(z-ζ)/Π(z-λ) at random points.
        z = np.array([1.3 + 0.4j, -2.0, 0.1 + 3j])
        h = d + (res[None, :] / (z[:, None] - poles[None, :])).sum(1)
        rational = kappa * np.prod(z[:, None] - zeros[None, :], 1) / np.prod(z[:, None] - poles[None, :], 1)
        np.testing.assert_allclose(rational, h, rtol=1e-11)


@pytest.mark.parametrize("kind", ["inf", "spectral"])
@pytest.mark.parametrize("bound", [1.5, 2.0, 4.0])
@pytest.mark.parametrize("gain", [1.0, 1e2, 1e4])
def test_norm_bounded_construction_R3(kind, bound, gain):
    target = random_shallow_ssm(n_pairs=2, n_real=1, gain=gain, seed=11)
    ref = recurrence_impulse(target)
    for absorb in (True, False):
        deep = shallow_to_deep(target, bound=bound, kind=kind, absorb=absorb)
        assert max(float(layer_norm(lay, kind)) for lay in deep.layers) <= bound * (1 + 1e-12)
        assert rel(deep.impulse_response(length=L), ref) < 1e-10
    # The literal construction (no absorption) has exactly the depth of the bound (R4).
    assert shallow_to_deep(target, bound=bound, kind=kind, absorb=False).depth == depth_upper_bound(
        target, bound=bound, kind=kind)


def test_construction_needs_depth_where_shallow_needs_norm():
    """A gain-1e4 target: the shallow realisation has a huge norm, the deep one stays within M = 2."""
    target = random_shallow_ssm(n_pairs=2, n_real=0, gain=1e4, seed=2, feedthrough=False)
    deep = shallow_to_deep(target, bound=2.0)
    assert max(float(layer_norm(lay)) for lay in target.layers) > 20
    assert max(float(layer_norm(lay)) for lay in deep.layers) <= 2.0 * (1 + 1e-12)
    assert rel(deep.impulse_response(length=L), recurrence_impulse(target)) < 1e-10
    width = min_shallow_width(target, bound=2.0)
    assert np.isfinite(width) and 3 * width + 1 > 100 * deep.parameter_count  # width ~ G/M², depth ~ log G
    # With feedthrough |d| > M no norm-bounded shallow model exists at any width.
    with_d = random_shallow_ssm(n_pairs=2, n_real=0, gain=1e4, seed=2)
    assert abs(float(with_d.layers[0].d)) > 2.0 and min_shallow_width(with_d, bound=2.0) == np.inf
    assert min_shallow_width(target, bound=2.0, kind="spectral") == np.inf


def test_minimal_depth_search_R4_random_targets():
    rng = np.random.default_rng(0)
    deepest = 0
    for i in range(100):
        n_pairs, n_real = int(rng.integers(0, 4)), int(rng.integers(0, 4))
        n_pairs += n_pairs + n_real == 0
        gain = float(10 ** rng.uniform(0, 4))
        bound = float(rng.choice([1.5, 2.0, 4.0]))
        kind = "inf" if i % 3 else "spectral"
        target = random_shallow_ssm(n_pairs=n_pairs, n_real=n_real, gain=gain, feedthrough=bool(i % 4), seed=i)
        found = minimal_depth_search(target, bound=bound, kind=kind, max_width=2 + 2 * (i % 2))
        assert found.depth <= depth_upper_bound(target, bound=bound, kind=kind)
        rho = float(np.abs(np.asarray(target.layers[0].a)).max())
        assert depth_lower_bound(target, bound=bound, width=max(found.widths), rho=rho, kind=kind) <= found.depth
        assert max(float(layer_norm(lay, kind)) for lay in found.layers) <= bound * (1 + 1e-12)
        deepest = max(deepest, found.depth)
        if i % 10 == 0:  # the map itself, on a tenth of them (each costs a few compilations)
            assert rel(found.impulse_response(length=256), recurrence_impulse(target, 256)) < 1e-10
    assert deepest > 1


@pytest.mark.parametrize("seed", range(5))
def test_spec_bound_for_real_poles_and_zeros(seed):
    """With real poles and zeros the construction uses width-1 factors and the spec's (R4) formula holds."""
    rng = np.random.default_rng(seed)
    poles, zeros = rng.uniform(-0.95, 0.95, 4), rng.uniform(-3, 3, 4)
    kappa = 10 ** rng.uniform(-1, 4)
    res = kappa * np.array([np.prod(p - zeros) / np.prod(p - np.delete(poles, i)) for i, p in enumerate(poles)])
    target = shallow_from_residues(poles, res, kappa)
    for bound in (1.5, 2.0, 4.0):
        fact = factorise(target)
        assert all(b.poles.size == 1 for b in fact.blocks)
        deep = realise(fact, bound=bound, absorb=False)
        assert deep.depth <= spec_depth_bound(target, bound=bound)
        assert rel(deep.impulse_response(length=L), recurrence_impulse(target)) < 1e-10


def test_depth_lower_bound_by_layer_gains():
    """||H||_∞ <= Π ||h_l||_1 for a realised deep model; the lower bound then follows (and can bind)."""
    target = random_shallow_ssm(n_pairs=1, n_real=1, gain=1e4, r_max=0.6, seed=8)
    deep = minimal_depth_search(target, bound=4.0)
    layer_l1 = [float(np.abs(np.asarray(DeepLinearSSM([lay]).impulse_response(length=400))).sum())
                for lay in deep.layers]
    assert hinf_lower_estimate(target) <= np.prod(layer_l1) * (1 + 1e-9)
    # The numpy grid evaluation agrees with the model's own transfer function (independent code path).
    z = jnp.asarray(np.exp(2j * np.pi * np.arange(4096) / 4096))
    assert hinf_lower_estimate(deep) == pytest.approx(float(jnp.max(jnp.abs(deep.transfer_function(z)))), rel=1e-10)
    lower = depth_lower_bound(target, bound=4.0, width=2, rho=0.6)
    assert 1 < lower <= deep.depth <= depth_upper_bound(target, bound=4.0)


def test_spec_bound_clamp_for_small_gain():
    target = shallow_from_residues(np.array([0.5]), np.array([1e-6]), 1e-6)
    assert spec_depth_bound(target, bound=2.0) == 2  # n + 1: the unclamped formula gives 2 - 19 < 0
    # Raw formula: gain 3 * 16 / 4 ... = log2(3 * (16/4)) = log2(12) -> ceil 3.58 = 4, plus n + 1.
    assert depth_bound_formula(n=2, gain=3.0, pole_zero_gaps=[16.0, 1.0], bound=2.0) == 2 + 1 + 4
    assert depth_bound_formula(n=2, gain=4.0, pole_zero_gaps=[], bound=2.0) == 2 + 1 + 2  # exact power of M
    deep = shallow_to_deep(target, bound=2.0)
    assert deep.depth == 1 and rel(deep.impulse_response(length=64), recurrence_impulse(target, 64)) < 1e-12


def test_construction_errors():
    target = random_shallow_ssm(n_pairs=1, gain=100.0, seed=0)
    with pytest.raises(ValueError, match="bound"):
        shallow_to_deep(target, bound=0.5)
    with pytest.raises(ValueError, match="M > 1"):
        shallow_to_deep(target, bound=1.0)
    with pytest.raises(ValueError, match="kind"):
        shallow_to_deep(target, bound=2.0, kind="nuclear")
    with pytest.raises(ValueError, match="max_width"):
        minimal_depth_search(target, bound=2.0, max_width=1)
    with pytest.raises(ValueError, match="depth-1"):
        factorise(DeepLinearSSM(list(target.layers) * 2))
    with pytest.raises(ValueError, match="repeated poles"):
        factorise(shallow_from_residues(np.array([0.5, 0.5]), np.array([1.0, 2.0]), 1.0))
    with pytest.raises(ValueError, match="identically zero"):
        factorise(shallow_from_residues(np.array([0.5, 0.3]), np.array([0.0, 0.0]), 0.0))
