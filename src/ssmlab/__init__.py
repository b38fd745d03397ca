"""ssmlab: deep state-space models — fast layers, learning-dynamics and expressivity theory, experiments.

Public API (details in the README):

>>> import jax, jax.numpy as jnp, ssmlab
>>> layer = ssmlab.LinearSSM(state_size=8, d_in=2, key=jax.random.key(0))
>>> layer(jnp.ones((16, 2))).shape
(16, 2)
"""

__version__ = "0.1.0"

from .core import bilinear as bilinear
from .core import causal_conv as causal_conv
from .core import causal_conv_mixing as causal_conv_mixing
from .core import frequency_response as frequency_response
from .core import linear_recurrence as linear_recurrence
from .core import ssm_kernel as ssm_kernel
from .core import zoh as zoh
from .layers import AbstractSequenceLayer as AbstractSequenceLayer
from .layers import LinearSSM as LinearSSM
from .layers import layer_names as layer_names
from .layers import make_layer as make_layer
