"""The jaxtyping names and shared array aliases ssmlab's annotations use (core/ imports them from here).

Dimension letters: L length, H channels (Hin/Hout when they differ), N state, K filters, n FFT size.
"""

from jaxtyping import Array, Bool, Complex, Float, Inexact, Int, Num, PRNGKeyArray

Seq = Float[Array, "L H"]
"""One real sequence of L steps with H channels."""

Diagonal = Num[Array, " N"]
"""The diagonal of a diagonal state matrix A (real or complex), one entry per state."""

MIMOKernel = Float[Array, "L Hin Hout"]
"""A real MIMO impulse response: one Hin x Hout matrix per lag 0..L-1."""

__all__ = ["Array", "Bool", "Complex", "Diagonal", "Float", "Inexact", "Int", "MIMOKernel", "Num", "PRNGKeyArray",
           "Seq"]
