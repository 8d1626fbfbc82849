"""The MANN with least-recently-used access (Santoro et al. 2016).

"One-shot learning with memory-augmented neural networks", arXiv 1605.06065,
sec. 3.2. One time step:

1. an LSTM controller reads `[x_t; r_{t-1}]` and emits, for each of the R
   heads, a key `k` (tanh), a write gate `alpha` and, with
   `write_vector='separate'`, an add vector `a` (tanh);
2. the single least-used slot of the previous usage `w^u_{t-1}` is set to
   zero ("prior to writing to memory, the least used memory location is
   computed from `w^u_{t-1}` and is set to zero");
3. each head writes with `w^w = sigmoid(alpha) w^r_{t-1} + (1 -
   sigmoid(alpha)) w^lu_{t-1}` (eq. 22): to the slot it read last, or to a
   least-used slot. `M_t = M + sum_i w^w_i a_i^T` with `a_i = k_i` (the
   paper, eq. 23) or a separate add vector (both public implementations);
4. each head reads the written memory by content: a softmax over slots of
   the cosine similarity to its key (eqs. 17-19), with no key strength
   unless `key_strength=True`. With `read_addressing='previous'` (as
   snowkylin/ntm) the weights compare the key with the memory before this
   step's clearing and write, and the read vectors still come from the
   written memory;
5. the usage becomes `gamma w^u_{t-1} + sum_i w^r_i + sum_i w^w_i` (eq. 20).

The output is `[h_t; r_t]`; the sequence model's readout maps it to logits.
Least-used slots are per head (head `i` gets the `(i+1)`-th least used, as
tristandeleu/ntm-one-shot) or shared (every head gets the paper's single
indicator with R ones, as snowkylin/ntm). The memory size `N` is an
attribute, never a parameter shape: the same parameters run with any `N`.
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

WRITE_VECTORS = ('separate', 'key')
LEAST_USED = ('per_head', 'shared')
READ_ADDRESSING = ('written', 'previous')


class MANNState(NamedTuple):
  """Carry of `MANNCell`.

  Attributes:
    controller: `LSTMState` of `[B, C]` arrays.
    memory: `[B, N, W]`.
    read_weights: `[B, R, N]` `w^r_t`.
    usage: `[B, N]` `w^u_t`.
    read_vectors: `[B, R, W]` `r_t`.
  """

  controller: LSTMState
  memory: Array
  read_weights: Array
  usage: Array
  read_vectors: Array


class HeadParams(NamedTuple):
  """Activated head parameters, each `[B, R, ...]`.

  key `[B, R, W]`, gate `[B, R]` (`sigmoid(alpha)`), add `[B, R, W]`,
  strength `[B, R]` (ones without `key_strength`).
  """

  key: Array
  gate: Array
  add: Array
  strength: Array


def _check_config(cell: 'MANNCell') -> None:
  """Raises ValueError naming the config field of a bad attribute."""
  checks.check_positive_ints(cell, ('controller_size', 'memory_size',
                                    'word_size', 'num_heads'))
  if cell.num_heads > cell.memory_size:
    raise ValueError(f'config.model.num_heads ({cell.num_heads}) must not '
                     f'exceed config.model.memory_size ({cell.memory_size}): '
                     'each head needs its own least-used slot.')
  for field, allowed in (('write_vector', WRITE_VECTORS),
                         ('least_used', LEAST_USED),
                         ('read_addressing', READ_ADDRESSING)):
    if getattr(cell, field) not in allowed:
      raise ValueError(f'config.model.{field} must be one of {allowed}, got '
                       f'{getattr(cell, field)!r}.')
  if not 0.0 <= cell.gamma <= 1.0:
    raise ValueError('config.model.gamma (usage decay) must be in [0, 1], '
                     f'got {cell.gamma!r}.')


class MANNCell(nn.RNNCellBase):
  """MANN cell with LRUA memory, carry-first for `lax.scan`.

  `__call__(carry, x [B, D]) -> (carry, (y [B, C + R*W], aux))`; `aux` holds
  `read_weights [B, R, N]`, `write_weights [B, R, N]` and `usage [B, N]`
  when `return_aux`. `__call__` is `step_projected(carry,
  project_inputs(x))`: `SequenceModel` projects all steps' inputs before its
  loop (`memax.models.sequence`), so a subclass changes the step in
  `step_projected`.

  Attributes:
    controller_size: `C`, LSTM units (the paper: 200).
    memory_size: `N`, slots (128; free to change between train and eval).
    word_size: `W` (40).
    num_heads: `R` read heads, and as many write heads (4).
    write_vector: 'separate' (an add vector of its own, as both public
      implementations) or 'key' (the head's key is written, eq. 23).
    least_used: 'per_head' (head i writes to the (i+1)-th least-used slot)
      or 'shared' (all heads share the indicator with R ones).
    read_addressing: 'written' (the read weights compare each key with the
      memory after this step's write: the paper's order and
      tristandeleu/ntm-one-shot's) or 'previous' (with the memory before
      this step's clearing and write, as snowkylin/ntm; the read vectors
      come from the written memory in both).
    gamma: usage decay (0.95 in both public implementations; the paper's
      text: 0.99).
    key_strength: learn a key strength `oneplus(beta)` per head; off (no
      strength, eq. 17-18) by default.
    memory_init_value: constant initial memory (1e-6).
    clip_value: clip interface pre-activations to `[-c, c]`; 0 disables.
    eps: floor of the cosine similarity.
    forget_bias: the controller's forget-gate bias.
    return_aux: also return weights and usage for plots.
  """

  controller_size: int = 200
  memory_size: int = 128
  word_size: int = 40
  num_heads: int = 4
  write_vector: str = 'separate'
  least_used: str = 'per_head'
  read_addressing: str = 'written'
  gamma: float = 0.95
  key_strength: bool = False
  memory_init_value: float = 1e-6
  clip_value: float = 20.0
  eps: float = 1e-6
  forget_bias: float = 1.0
  return_aux: bool = False
  dtype: Any = jnp.float32

  def setup(self):
    _check_config(self)
    self.core = FusedLSTMCell(self.controller_size, self.forget_bias,
                              dtype=self.dtype)
    self.interface = nn.Dense(
        interface.interface_size(self._head_fields(), self.num_heads),
        dtype=self.dtype)

  def _head_fields(self) -> tuple[interface.Field, ...]:
    """Per head: key, gate, then add vector and strength if used."""
    fields = [interface.Field('key', (self.word_size,), jnp.tanh),
              interface.Field('gate', (), jax.nn.sigmoid)]
    if self.write_vector == 'separate':
      fields.append(interface.Field('add', (self.word_size,), jnp.tanh))
    if self.key_strength:
      fields.append(interface.Field('strength', (), ops.oneplus))
    return tuple(fields)

  def split_heads(self, raw: Array) -> HeadParams:
    """`raw [B, R * size]` -> activated `HeadParams`."""
    p = interface.split(raw, self._head_fields(), num_heads=self.num_heads)
    strength = p.get('strength', jnp.ones_like(p['gate']))
    return HeadParams(p['key'], p['gate'], p.get('add', p['key']), strength)

  def project_inputs(self, xs: Array) -> Array:
    """The controller's input projection `[..., 4C]` of inputs `[..., D]`,
    all time steps at once (`memax.cells.lstm`'s module docstring)."""
    return self.core.project(xs, self.num_heads * self.word_size)

  def controller_step(self, carry: MANNState, x: Array
                      ) -> tuple[LSTMState, Array, Array]:
    """`(controller state, h [B, C], raw interface [B, R * size])`: the
    LSTM on `[x_t; r_{t-1}]`."""
    return self._controller(carry, self.project_inputs(x))

  def _controller(self, carry: MANNState, projected: Array
                  ) -> tuple[LSTMState, Array, Array]:
    reads = carry.read_vectors.reshape(projected.shape[:-1] + (-1,))
    state, h = self.core.step(carry.controller, projected, reads)
    raw = self.interface(h)
    if self.clip_value:
      raw = jnp.clip(raw, -self.clip_value, self.clip_value)
    return state, h, raw

  def __call__(self, carry: MANNState, x: Array
               ) -> tuple[MANNState, tuple[Array, dict[str, Array]]]:
    return self.step_projected(carry, self.project_inputs(x))

  def step_projected(self, carry: MANNState, projected: Array
                     ) -> tuple[MANNState, tuple[Array, dict[str, Array]]]:
    """One step from the step's `project_inputs` output `[B, 4C]`."""
    state, h, raw = self._controller(carry, projected)
    p = self.split_heads(raw)
    num = self.num_heads
    # `[B, R, N]`: row i is the (i+1)-th least-used slot of w^u_{t-1}.
    rows = jax.vmap(lambda u: ops.least_used(u, num=num))(carry.usage)
    least = rows
    if self.least_used == 'shared':
      least = jnp.broadcast_to(rows.sum(1, keepdims=True), rows.shape)
    write_weights = jax.vmap(jax.vmap(ops.lrua_write_weights))(
        carry.read_weights, least, p.gate)
    # The least-used slot (row 0) is cleared before the write.
    cleared = carry.memory * (1.0 - rows[:, 0, :, None])
    memory = cleared + jnp.einsum('brn,brw->bnw', write_weights, p.add)
    eps = self.eps
    content = jax.vmap(jax.vmap(
        lambda m, k, b: ops.content_weights(m, k, b, eps=eps),
        in_axes=(None, 0, 0)))
    addressed = memory if self.read_addressing == 'written' else carry.memory
    read_weights = content(addressed, p.key, p.strength)
    read_vectors = jnp.einsum('brn,bnw->brw', read_weights, memory)
    usage = jax.vmap(lambda u, r, w: ops.lrua_usage(
        u, r, w, decay=self.gamma))(carry.usage, read_weights, write_weights)
    new_carry = MANNState(state, memory, read_weights, usage, read_vectors)
    y = jnp.concatenate(
        [h, read_vectors.reshape(h.shape[:-1] + (-1,))], axis=-1)
    aux = {}
    if self.return_aux:
      aux = {'read_weights': read_weights, 'write_weights': write_weights,
             'usage': usage}
    return new_carry, (y, aux)

  @nn.nowrap
  def initialize_carry(self, rng: PRNGKey, input_shape: tuple[int, ...]
                       ) -> MANNState:
    """Initial carry for inputs `[B, D]`: constant memory, zero usage.

    Every head's previous read weights start on slot 0, and the previous
    reads are zero.
    """
    del rng
    _check_config(self)
    batch = tuple(input_shape[:-1])
    n, w, r = self.memory_size, self.word_size, self.num_heads
    zeros = jnp.zeros(batch + (self.controller_size,), self.dtype)
    return MANNState(
        controller=LSTMState(zeros, zeros),
        memory=jnp.full(batch + (n, w), self.memory_init_value, self.dtype),
        read_weights=jnp.broadcast_to(
            jax.nn.one_hot(0, n, dtype=self.dtype), batch + (r, n)),
        usage=jnp.zeros(batch + (n,), self.dtype),
        read_vectors=jnp.zeros(batch + (r, w), self.dtype))

  @property
  def num_feature_axes(self) -> int:
    return 1
