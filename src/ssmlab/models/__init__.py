"""Stacked sequence models built from registered layers."""

from .sequence_model import Block as Block
from .sequence_model import SequenceModel as SequenceModel
from .sequence_model import apply_batch as apply_batch
from .sequence_model import make_model as make_model
