"""Pure, batch-free memory ops. Batch them with `jax.vmap`."""

from memax.ops.addressing import address
from memax.ops.addressing import circular_shift
from memax.ops.addressing import content_weights
from memax.ops.addressing import cosine_similarity
from memax.ops.addressing import interpolate
from memax.ops.addressing import oneplus
from memax.ops.addressing import sharpen
from memax.ops.memory import multi_write
from memax.ops.memory import read
from memax.ops.memory import write

__all__ = (
    'address',
    'circular_shift',
    'content_weights',
    'cosine_similarity',
    'interpolate',
    'multi_write',
    'oneplus',
    'read',
    'sharpen',
    'write',
)
