r"""Learning dynamics of linear SSMs in the frequency domain [LDyn] (Smékal et al., arXiv 2407.07279).

One namespace for the three parts (all float64-ready; wrap callers in `jax.enable_x64(True)`):

* `frequency`: DFT convention, sufficient statistics σ_k = Y_k U_k^*, η_k = |U_k|^2 and
  their Section-3 / Appendix-B sums, Parseval (L_time = L_freq / L), exact flow rates
  R_θ = -(1/2) ∂L_freq/∂θ for one layer and K stacked layers, and the time-domain model.
* `flows`: the gradient-flow ODE τ dθ/dt = R_θ in Diffrax, and gradient descent with
  autodiff through the time-domain model (τ = L/(2λ)).
* `closed_forms`: eq. (5), eq. (6) corrected (tied) and its untied counterpart, the C ≠ B
  implicit solution, Appendix B's eqs. (21)-(23), time constants, convergence times and the
  largest stable learning rates.
* `sweep`: gradient descent over a grid of latent sizes N as one vmapped program (masked to N_max).
"""

from __future__ import annotations

from .closed_forms import (
    a_only_time,
    balanced_convergence_time,
    balanced_gain,
    balanced_time_constant,
    c_only_coefficient,
    c_only_convergence_time,
    c_only_time,
    c_only_time_constant,
    c_only_untied_sum,
    max_stable_learning_rate,
    paper_eq6_gain,
    tied_gain,
    unbalanced_gain,
    unbalanced_time,
    untied_total_gain,
)
from .flows import (
    gradient_descent,
    gradient_flow,
    make_time_loss,
    time_domain_descent,
)
from .frequency import (
    bin_statistics,
    dft,
    flow_rates,
    frequency_loss,
    layer_responses,
    learning_rate_to_tau,
    parseval_factor,
    resolvent,
    response_derivatives,
    ssm_output,
    stacked_output,
    summed_statistics,
    time_loss,
    total_response,
    transfer_statistics,
)
from .sweep import (
    descend_one,
    latent_masks,
    sweep_data,
    sweep_descent,
)

__all__ = [
    "descend_one",
    "latent_masks",
    "sweep_data",
    "sweep_descent",
    "a_only_time",
    "balanced_convergence_time",
    "balanced_gain",
    "balanced_time_constant",
    "bin_statistics",
    "c_only_coefficient",
    "c_only_convergence_time",
    "c_only_time",
    "c_only_time_constant",
    "c_only_untied_sum",
    "dft",
    "flow_rates",
    "frequency_loss",
    "gradient_descent",
    "gradient_flow",
    "layer_responses",
    "learning_rate_to_tau",
    "make_time_loss",
    "max_stable_learning_rate",
    "paper_eq6_gain",
    "parseval_factor",
    "resolvent",
    "response_derivatives",
    "ssm_output",
    "stacked_output",
    "summed_statistics",
    "tied_gain",
    "time_domain_descent",
    "time_loss",
    "total_response",
    "transfer_statistics",
    "unbalanced_gain",
    "unbalanced_time",
    "untied_total_gain",
]
