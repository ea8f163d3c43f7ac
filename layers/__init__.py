"""Building blocks from classic deep-learning papers, as tested Keras layers.

Importing this package registers every layer under the "classics" serialization package,
so saved models load without `custom_objects`.
"""

from layers.attention import BahdanauAttention, LuongAttention
from layers.cosine_logits import CosineLogits
from layers.gradcheck import GradientCheckResult, gradient_check
from layers.gru_cell import GRUCell
from layers.inception_module import InceptionModule
from layers.lstm_cell import LSTMCell
from layers.residual_block import ResidualBlock
from layers.skip_gram import SkipGramNegativeSampling

# One public name per line, so that adding a layer is a one-line change.
__all__ = [
    "BahdanauAttention",
    "CosineLogits",
    "GRUCell",
    "GradientCheckResult",
    "InceptionModule",
    "LSTMCell",
    "LuongAttention",
    "ResidualBlock",
    "SkipGramNegativeSampling",
    "gradient_check",
]
