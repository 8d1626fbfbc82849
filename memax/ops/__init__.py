"""Pure, batch-free memory ops. Batch them with `jax.vmap`.

NTM addressing and memory (`addressing`, `memory`); the MANN's
least-recently-used access (`lrua`); the DNC's allocation and temporal
links (`dnc`); MemN2N / KV-MemNN attention over
sentence memories (`attention`).
"""

from memax.ops.addressing import address
from memax.ops.addressing import circular_shift
from memax.ops.addressing import content_weights
from memax.ops.addressing import cosine_similarity
from memax.ops.addressing import interpolate
from memax.ops.addressing import oneplus
from memax.ops.addressing import sharpen
from memax.ops.attention import bag_of_words
from memax.ops.attention import centered_position_encoding_weights
from memax.ops.attention import masked_softmax
from memax.ops.attention import memory_age
from memax.ops.attention import memory_attention
from memax.ops.attention import memory_read
from memax.ops.attention import position_encoding
from memax.ops.attention import position_encoding_weights
from memax.ops.dnc import SparseLink
from memax.ops.dnc import dnc_allocation
from memax.ops.dnc import dnc_directional_weights
from memax.ops.dnc import dnc_link_and_directional
from memax.ops.dnc import dnc_link
from memax.ops.dnc import dnc_multi_allocation
from memax.ops.dnc import dnc_multi_read_weights
from memax.ops.dnc import dnc_multi_usage
from memax.ops.dnc import dnc_precedence
from memax.ops.dnc import dnc_read_weights
from memax.ops.dnc import dnc_sparse_directional_weights
from memax.ops.dnc import dnc_sparse_link
from memax.ops.dnc import dnc_sparse_link_to_dense
from memax.ops.dnc import dnc_sparsify
from memax.ops.dnc import dnc_usage
from memax.ops.dnc import dnc_write_weights
from memax.ops.lrua import least_used
from memax.ops.lrua import lrua_usage
from memax.ops.lrua import lrua_write_weights
from memax.ops.memory import multi_write
from memax.ops.memory import read
from memax.ops.memory import write

__all__ = (
    'SparseLink',
    'address',
    'bag_of_words',
    'centered_position_encoding_weights',
    'circular_shift',
    'content_weights',
    'cosine_similarity',
    'dnc_allocation',
    'dnc_directional_weights',
    'dnc_link_and_directional',
    'dnc_link',
    'dnc_multi_allocation',
    'dnc_multi_read_weights',
    'dnc_multi_usage',
    'dnc_precedence',
    'dnc_read_weights',
    'dnc_sparse_directional_weights',
    'dnc_sparse_link',
    'dnc_sparse_link_to_dense',
    'dnc_sparsify',
    'dnc_usage',
    'dnc_write_weights',
    'interpolate',
    'least_used',
    'lrua_usage',
    'lrua_write_weights',
    'masked_softmax',
    'memory_age',
    'memory_attention',
    'memory_read',
    'multi_write',
    'oneplus',
    'position_encoding',
    'position_encoding_weights',
    'read',
    'sharpen',
    'write',
)
