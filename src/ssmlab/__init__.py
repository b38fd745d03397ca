"""ssmlab: deep state-space models — fast layers, learning-dynamics and expressivity theory, experiments.

Public API (details in the README):

>>> import jax, jax.numpy as jnp, ssmlab
>>> layer = ssmlab.LinearSSM(state_size=8, d_model=2, key=jax.random.key(0))
>>> layer(jnp.ones((16, 2))).shape
(16, 2)
"""

__version__ = "0.1.0"

from . import data as data
from . import theory as theory
from .core import bilinear as bilinear
from .core import causal_conv as causal_conv
from .core import causal_conv_mixing as causal_conv_mixing
from .core import frequency_response as frequency_response
from .core import linear_recurrence as linear_recurrence
from .core import ssm_kernel as ssm_kernel
from .core import zoh as zoh
from .core.filter_cache import cached_spectral_filters as cached_spectral_filters
from .core.hankel import hankel_matrix as hankel_matrix
from .core.hankel import hankel_matvec as hankel_matvec
from .core.hankel import spectral_filters as spectral_filters
from .data import lds as lds
from .data.lds import LDS as LDS
from .data.lds import paper_lds as paper_lds
from .data.lds import random_symmetric_lds as random_symmetric_lds
from .layers import AbstractSequenceLayer as AbstractSequenceLayer
from .layers import LinearSSM as LinearSSM
from .layers import layer_names as layer_names
from .layers import make_layer as make_layer
from .layers.lru import LRU as LRU
from .layers.s4d import S4D as S4D
from .layers.stu import STU as STU
from .layers.stu import STUApprox as STUApprox
from .models.generate import generate as generate
from .models.generate import generate_stream as generate_stream
from .models.sequence_model import SequenceModel as SequenceModel
from .models.sequence_model import make_model as make_model
from .theory import expressivity as expressivity
from .theory import learning_dynamics as learning_dynamics
from .theory.expressivity import DeepLinearSSM as DeepLinearSSM
from .theory.expressivity.construction import minimal_depth_search as minimal_depth_search
from .theory.expressivity.construction import shallow_to_deep as shallow_to_deep
from .train import TrainConfig as TrainConfig
from .train import TrainResult as TrainResult
from .train import load_run as load_run
from .train import train as train
from .train import trainable as trainable
