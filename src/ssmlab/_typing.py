"""Shared jaxtyping aliases. Dimension letters: L length, H channels, N state, K filters, n FFT size."""

from jaxtyping import Array, Complex, Float, Inexact, PRNGKeyArray

Seq = Float[Array, "L H"]
"""One real sequence of L steps with H channels."""

__all__ = ["Array", "Complex", "Float", "Inexact", "PRNGKeyArray", "Seq"]
