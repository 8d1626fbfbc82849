"""The Distributed Associative Memory cell (Park, Choi & Lee 2021).

"Distributed associative memory network with memory refreshing loss",
Neural Networks 144. The model is defined by its code (taewonpark/DAM,
built on deepmind/dnc); this cell does what that code does. One time step:

1. an LSTM controller reads `[x_t; r_{t-1}]`, where `r_{t-1}` holds the R
   read vectors of the previous step (each summed over the blocks); its
   output and state are clipped to `+-controller_clip` and the output is
   layer-normalised, `h_t = LN(clip(lstm(...)))`;
2. the interface vector, one linear layer of `h_t`, gives every one of the
   K memory blocks its own fields (`interface_fields`): write vector, erase
   vector, R free gates, allocation and write gates, write key and
   strength, R read keys and strengths, and R attentive-gate logits;
3. each block is a DNC memory without temporal link, precedence or read
   modes: its usage follows its previous write (under `stop_gradient`, as
   the code) and the previous *gated* read weights freed by the free gates
   (`ops.dnc_usage`); its write weights mix the sort-based allocation
   (`ops.dnc_allocation`) and the write key's content weights
   (`ops.dnc_write_weights`); it is written, erase then add (`ops.write`);
4. head i's content weights `c_ik` on each written block `k` are scaled by
   the attentive gate `g_ik = softmax_k(logits_ik)` (a softmax over the
   blocks), and head i reads `r_i = sum_k M_k^T (g_ik c_ik)`. The gated
   weights `g_ik c_ik` are the stored read weights of step 3's next usage.

The DNC ops are vmapped over a block axis and the batch. With `K = 1` the
gate is 1 and the cell is the DNC's content-based memory unit ("DNC
without link"): the baseline that isolates the blocks' effect.

The cell's output features are `[h_t; r_t]`; the sequence model's readout
turns them into logits (`memax.models.sequence.SequenceModel`: DAM's
dropout of the controller part, its optional ReLU layers, the linear
layer and the output clip are fields there, `readout_dropout`,
`readout_layers`, `output_clip`).

The block size `N` is an attribute, never a parameter shape: the same
parameters run with any `N`. The number of blocks `K` is a parameter
shape (each block has its own interface fields).
"""

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from memax import ops
from memax.cells import checks
from memax.cells import interface
from memax.cells.lstm import FusedLSTMCell
from memax.cells.lstm import LSTMState
from memax.types import Array, PRNGKey

STRENGTHS = {'softplus': jax.nn.softplus, 'oneplus': ops.oneplus}


class DAMState(NamedTuple):
  """Carry of `DAMCell`.

  Attributes:
    controller: `LSTMState` of `[B, C]` arrays.
    memory: `[B, K, N, W]` the K blocks `M_k`.
    usage: `[B, K, N]` each block's usage.
    read_weights: `[B, K, R, N]` the gated read weights `g_ik c_ik`.
    write_weights: `[B, K, N]` each block's write weights.
    read_vectors: `[B, R, W]` `r_t`, each head's read summed over blocks.
  """

  controller: LSTMState
  memory: Array
  usage: Array
  read_weights: Array
  write_weights: Array
  read_vectors: Array


def _check_config(cell: 'DAMCell') -> None:
  """Raises ValueError naming the config field of a bad attribute."""
  checks.check_positive_ints(cell, ('num_blocks', 'controller_size',
                                    'memory_size', 'word_size',
                                    'num_read_heads'))
  if cell.strength not in STRENGTHS:
    raise ValueError(f'config.model.strength must be one of '
                     f'{tuple(STRENGTHS)}, got {cell.strength!r}.')
  clip = cell.controller_clip
  if isinstance(clip, bool) or not isinstance(clip, (int, float)) or clip < 0:
    raise ValueError('config.model.controller_clip must be >= 0 (0 '
                     f'disables), got {clip!r}.')


def block_step(memory: Array, usage: Array, write_weights: Array,
               read_weights: Array, p: dict[str, Array], *, eps: float
               ) -> tuple[Array, Array, Array, Array, Array]:
  """One block's write and content reads: batch-free, `vmap` over blocks.

  Args:
    memory: `[N, W]` the block's memory before this step.
    usage: `[N]` its usage `u_{t-1}`.
    write_weights: `[N]` its write weights `w^w_{t-1}`.
    read_weights: `[R, N]` its gated read weights `g c` of step `t-1`.
    p: the block's interface fields (`DAMCell.interface_fields`, activated):
      `write_vector [W]`, `erase [W]`, `free_gates [R]`, `allocation_gate
      []`, `write_gate []`, `write_key [W]`, `write_strength []`,
      `read_keys [R, W]`, `read_strengths [R]`.
    eps: the content addressing's numerical floor.

  Returns:
    `(memory [N, W], usage [N], allocation [N], write_weights [N],
    read_content [R, N])`: the written memory, the new usage, the
    allocation weights, the write weights, and each head's content weights
    on the written memory (before the attentive gate).
  """
  usage = ops.dnc_usage(usage, jax.lax.stop_gradient(write_weights),
                        read_weights, p['free_gates'])
  allocation = ops.dnc_allocation(usage)
  write_content = ops.content_weights(memory, p['write_key'],
                                      p['write_strength'], eps=eps)
  write_weights = ops.dnc_write_weights(allocation, write_content,
                                        p['allocation_gate'],
                                        p['write_gate'])
  memory = ops.write(memory, write_weights, p['erase'], p['write_vector'])
  read_content = jax.vmap(
      lambda key, strength: ops.content_weights(memory, key, strength,
                                                eps=eps))(
                                                    p['read_keys'],
                                                    p['read_strengths'])
  return memory, usage, allocation, write_weights, read_content


class DAMCell(nn.RNNCellBase):
  """Distributed Associative Memory cell, carry-first for `lax.scan`.

  `__call__(carry, x [B, D]) -> (carry, (y [B, C + R*W], aux))`: `y` is the
  layer-normalised controller output and the new read vectors. With
  `return_aux`, `aux` holds `write_weights [B, K, N]`, `read_weights [B,
  K*R, N]` (the gated weights, block-major: row `k*R + i` is head i on
  block k), `usage [B, K, N]`, `allocation [B, K, N]`, `attentive_gate
  [B, R, K]`, `free_gates [B, K, R]`, `allocation_gate [B, K]` and
  `write_gate [B, K]`. `__call__` is `step_projected(carry,
  project_inputs(x))`, as `DNCCell`'s.

  Attributes:
    num_blocks: `K` memory blocks (1: the DNC's content-based memory unit).
    controller_size: `C`, LSTM units.
    memory_size: `N` slots per block (free between training and
      evaluation).
    word_size: `W`.
    num_read_heads: `R`; there is one write head per block.
    strength: activation of the key strengths: 'softplus' (the code's, as
      deepmind/dnc) or 'oneplus' (the DNC paper's).
    controller_clip: clip the controller output and LSTM state to
      `[-c, c]` each step (the code: 20); 0 disables.
    layer_norm: layer normalisation of the controller output (the code:
      on).
    forget_bias: the LSTM forget-gate bias (sonnet's default, 1).
    eps: numerical floor of the content addressing.
    return_aux: also return the weightings, usage and gates for plots.
  """

  num_blocks: int = 2
  controller_size: int = 128
  memory_size: int = 32
  word_size: int = 36
  num_read_heads: int = 1
  strength: str = 'softplus'
  controller_clip: float = 20.0
  layer_norm: bool = True
  forget_bias: float = 1.0
  eps: float = 1e-6
  return_aux: bool = False
  dtype: Any = jnp.float32

  def setup(self):
    _check_config(self)
    self.lstm = FusedLSTMCell(self.controller_size, self.forget_bias,
                              dtype=self.dtype)
    if self.layer_norm:
      self.norm = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype)
    self.interface = nn.Dense(
        interface.interface_size(self.interface_fields(), self.num_blocks),
        dtype=self.dtype)

  # ---- interface layout -----------------------------------------------------

  def interface_fields(self) -> tuple[interface.Field, ...]:
    """One block's fields, in the code's order; the interface vector lays
    them out block after block (`interface.split` with `num_heads=K`).
    The attentive-gate logits stay raw here: their softmax runs over the
    blocks. A block's size is `3 W + R W + 3 R + 3`."""
    r, w = self.num_read_heads, self.word_size
    strength = STRENGTHS[self.strength]
    return (
        interface.Field('write_vector', (w,)),
        interface.Field('erase', (w,), jax.nn.sigmoid),
        interface.Field('free_gates', (r,), jax.nn.sigmoid),
        interface.Field('allocation_gate', (), jax.nn.sigmoid),
        interface.Field('write_gate', (), jax.nn.sigmoid),
        interface.Field('write_key', (w,)),
        interface.Field('write_strength', (), strength),
        interface.Field('read_keys', (r, w)),
        interface.Field('read_strengths', (r,), strength),
        interface.Field('attentive_gate', (r,)),
    )

  # ---- the step -------------------------------------------------------------

  def _clip(self, x: Array) -> Array:
    c = self.controller_clip
    return jnp.clip(x, -c, c) if c else x

  def project_inputs(self, xs: Array) -> Array:
    """The LSTM's input projection `[..., 4C]` of inputs `[..., D]`, all
    time steps at once (`memax.cells.lstm`'s module docstring)."""
    return self.lstm.project(xs, self.num_read_heads * self.word_size)

  def __call__(self, carry: DAMState, x: Array
               ) -> tuple[DAMState, tuple[Array, dict[str, Array]]]:
    return self.step_projected(carry, self.project_inputs(x))

  def step_projected(self, carry: DAMState, projected: Array
                     ) -> tuple[DAMState, tuple[Array, dict[str, Array]]]:
    """One step from the step's `project_inputs` output."""
    batch = carry.read_vectors.shape[:-2]
    reads = carry.read_vectors.reshape(batch + (-1,))
    state, _ = self.lstm.step(carry.controller, projected, reads)
    state = LSTMState(self._clip(state.c), self._clip(state.h))
    h = self.norm(state.h) if self.layer_norm else state.h
    p = interface.split(self.interface(h), self.interface_fields(),
                        num_heads=self.num_blocks)
    gate = jax.nn.softmax(p.pop('attentive_gate'), axis=-2)  # [B, K, R]

    step = jax.vmap(jax.vmap(lambda *a: block_step(*a, eps=self.eps)))
    memory, usage, allocation, write_weights, content = step(
        carry.memory, carry.usage, carry.write_weights, carry.read_weights,
        p)
    read_weights = gate[..., None] * content  # [B, K, R, N]
    read_vectors = jnp.einsum('bkrn,bknw->brw', read_weights, memory)

    new_carry = DAMState(state, memory, usage, read_weights, write_weights,
                         read_vectors)
    y = jnp.concatenate([h, read_vectors.reshape(batch + (-1,))], axis=-1)
    aux = {}
    if self.return_aux:
      aux = {'write_weights': write_weights,
             'read_weights': read_weights.reshape(
                 batch + (-1, read_weights.shape[-1])),
             'usage': usage, 'allocation': allocation,
             'attentive_gate': jnp.swapaxes(gate, -1, -2),
             'free_gates': p['free_gates'],
             'allocation_gate': p['allocation_gate'],
             'write_gate': p['write_gate']}
    return new_carry, (y, aux)

  # ---- initial state --------------------------------------------------------

  @nn.nowrap
  def initialize_carry(self, rng: PRNGKey, input_shape: tuple[int, ...]
                       ) -> DAMState:
    """The zero state (the code's) for inputs `[B, D]`: empty blocks, zero
    usage, weights and reads."""
    del rng
    _check_config(self)
    batch = tuple(input_shape[:-1])
    k, n, w, r = (self.num_blocks, self.memory_size, self.word_size,
                  self.num_read_heads)

    def zeros(*shape):
      return jnp.zeros(batch + shape, self.dtype)

    controller = LSTMState(zeros(self.controller_size),
                           zeros(self.controller_size))
    return DAMState(controller=controller, memory=zeros(k, n, w),
                    usage=zeros(k, n), read_weights=zeros(k, r, n),
                    write_weights=zeros(k, n), read_vectors=zeros(r, w))

  @property
  def dropout_features(self) -> int:
    """The leading output features that the readout's dropout applies to:
    the controller output `h_t` (the code drops it, not the reads)."""
    return self.controller_size

  @property
  def num_feature_axes(self) -> int:
    return 1
