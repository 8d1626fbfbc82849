"""The Neural Turing Machine cell (Graves, Wayne & Danihelka 2014).

One time step: the controller reads the input and the previous read vectors,
emits an interface vector that is split into per-head parameters, the write
heads address and write memory (erase then add), and the read heads address
and read the updated memory (`head_order='write_first'`, the default). With
`head_order='read_first'` every head addresses the previous memory and the
reads return its contents before the write, the order of pytorch-ntm (its
heads run read, then write). The memory size `N` and word size `W` are
attributes, never parameter shapes: the same parameters run with any `N`.

Implementation choices, following Collier & Beel (2018), "Implementing Neural
Turing Machines": constant memory initialisation (1e-6) by default, interface
pre-activations clipped to `[-clip_value, clip_value]`, oneplus strengths.
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

CONTROLLERS = ('lstm', 'feedforward')
ADDRESSING = ('content', 'content_and_location')
MEMORY_INITS = ('constant', 'learned', 'random')
HEAD_ORDERS = ('write_first', 'read_first')


class NTMState(NamedTuple):
  """Carry of `NTMCell`.

  Attributes:
    controller: `LSTMState` of `[B, C]` arrays (a tuple of them, one per
      layer, when `controller_layers > 1`), or `()` for feed-forward.
    memory: `[B, N, W]`.
    read_weights: `[B, R, N]`.
    write_weights: `[B, H, N]`.
    read_vectors: `[B, R, W]`.
  """

  controller: Any
  memory: Array
  read_weights: Array
  write_weights: Array
  read_vectors: Array


class HeadParams(NamedTuple):
  """Activated parameters of a group of heads, each with a leading head axis.

  Shapes (per example): key `[., W]`, strength/gate/gamma `[.]`,
  shift `[., 2r+1]`, erase/add `[., W]` (write heads only, else None).
  """

  key: Array
  strength: Array
  gate: Array | None
  shift: Array | None
  gamma: Array | None
  erase: Array | None = None
  add: Array | None = None


def _check_config(cell: 'NTMCell') -> None:
  """Raises ValueError naming the config field of a bad attribute."""
  checks.check_positive_ints(cell, (
      'controller_size', 'controller_layers', 'memory_size', 'word_size',
      'num_read_heads', 'num_write_heads'))
  if cell.shift_range < 0:
    raise ValueError('config.model.shift_range must be >= 0 (shift width is '
                     f'2r+1, always odd), got {cell.shift_range!r}.')
  for field, allowed in (('controller', CONTROLLERS),
                         ('addressing', ADDRESSING),
                         ('memory_init', MEMORY_INITS),
                         ('head_order', HEAD_ORDERS)):
    if getattr(cell, field) not in allowed:
      raise ValueError(f'config.model.{field} must be one of {allowed}, got '
                       f'{getattr(cell, field)!r}.')


class NTMCell(nn.RNNCellBase):
  """Neural Turing Machine cell, carry-first for `lax.scan`.

  `__call__(carry, x [B, D]) -> (carry, (y [B, C + R*W], aux))` where `y` is
  the controller output concatenated with the new read vectors, and `aux` holds
  `read_weights [B, R, N]` and `write_weights [B, H, N]` when `return_aux`.

  Attributes:
    controller: 'lstm' or 'feedforward'.
    controller_size: `C`, controller units (per layer).
    controller_layers: stacked controller layers, each fed by the one below;
      the interface and the output `y` read the top layer (the NTM paper's
      priority-sort controller is an LSTM of "2 x 100").
    memory_size: `N`, memory slots (free to change between train and eval).
    word_size: `W`, memory word size.
    num_read_heads: `R`.
    num_write_heads: `H`.
    addressing: 'content_and_location' (NTM fig. 2) or 'content' only.
    shift_range: `r`; shifts by `-r..r` (shift width `2r+1`).
    memory_init: 'constant' (all `memory_init_value`), 'learned' (one learned
      word broadcast over the slots, so `N` stays free), or 'random'
      (normal with std `memory_init_value`, drawn from the carry rng).
    memory_init_value: the constant, or the std of the random init.
    clip_value: clip interface pre-activations to `[-c, c]`; 0 disables.
    eps: numerical floor of the addressing ops.
    head_order: 'write_first' (write, then read the written memory: reads
      see this step's write) or 'read_first' (all heads address the
      previous memory and the reads return it; pytorch-ntm's order).
    return_aux: also return the read and write weightings.
  """

  controller: str = 'lstm'
  controller_size: int = 100
  controller_layers: int = 1
  memory_size: int = 128
  word_size: int = 20
  num_read_heads: int = 1
  num_write_heads: int = 1
  addressing: str = 'content_and_location'
  shift_range: int = 1
  memory_init: str = 'constant'
  memory_init_value: float = 1e-6
  clip_value: float = 20.0
  eps: float = 1e-6
  head_order: str = 'write_first'
  return_aux: bool = False
  dtype: Any = jnp.float32

  def setup(self):
    _check_config(self)
    def layer():
      if self.controller == 'lstm':
        return FusedLSTMCell(self.controller_size, dtype=self.dtype)
      return nn.Dense(self.controller_size, dtype=self.dtype)
    # `core` is the first layer (the only one by default), `upper_<i>` the
    # layers above it.
    self.core = layer()
    self.upper = [layer() for _ in range(self.controller_layers - 1)]
    self.interface = nn.Dense(self._interface_size(), dtype=self.dtype)
    if self.memory_init == 'learned':
      self.memory_bias = self.param(
          'memory_bias', nn.initializers.normal(0.5), (self.word_size,))
      self.read_bias = self.param(
          'read_bias', nn.initializers.normal(0.5),
          (self.num_read_heads, self.word_size))

  # ---- interface layout -----------------------------------------------------

  def _location(self) -> bool:
    return self.addressing == 'content_and_location'

  def _head_fields(self, write: bool) -> tuple[interface.Field, ...]:
    """One head's layout: key, strength, then the location fields (gate,
    shift, gamma) and, for a write head, erase and add vectors."""
    w = self.word_size
    fields = [interface.Field('key', (w,)),
              interface.Field('strength', (), ops.oneplus)]
    if self._location():
      fields += [interface.Field('gate', (), jax.nn.sigmoid),
                 interface.Field('shift', (2 * self.shift_range + 1,),
                                 jax.nn.softmax),
                 interface.Field('gamma', (), ops.oneplus)]
    if write:
      fields += [interface.Field('erase', (w,), jax.nn.sigmoid),
                 interface.Field('add', (w,), jnp.tanh)]
    return tuple(fields)

  def _read_size(self) -> int:
    return interface.interface_size(self._head_fields(write=False),
                                    self.num_read_heads)

  def _interface_size(self) -> int:
    return self._read_size() + interface.interface_size(
        self._head_fields(write=True), self.num_write_heads)

  def _split_heads(self, raw: Array, num_heads: int, write: bool
                   ) -> HeadParams:
    """`raw [B, heads * size]` -> activated `HeadParams` of `[B, heads, .]`."""
    p = interface.split(raw, self._head_fields(write), num_heads=num_heads)
    return HeadParams(**{f: p.get(f) for f in HeadParams._fields})

  def _address(self, memory: Array, prev: Array, p: HeadParams) -> Array:
    """Weights `[B, heads, N]` for memory `[B, N, W]`, prev `[B, heads, N]`."""
    eps = self.eps
    if self._location():
      def one(m, w, k, b, g, s, y):
        return ops.address(m, w, k, b, g, s, y, eps=eps)
      per_head = jax.vmap(one, in_axes=(None, 0, 0, 0, 0, 0, 0))
      return jax.vmap(per_head)(memory, prev, p.key, p.strength, p.gate,
                                p.shift, p.gamma)
    def content(m, k, b):
      return ops.content_weights(m, k, b, eps=eps)
    per_head = jax.vmap(content, in_axes=(None, 0, 0))
    return jax.vmap(per_head)(memory, p.key, p.strength)

  # ---- the step -------------------------------------------------------------

  def _controller(self, state: Any, x: Array) -> tuple[Any, Array]:
    """The controller layers on `x [B, D]` -> (new state, top output)."""
    layers = [self.core] + list(self.upper)
    if self.controller == 'feedforward':
      h = x
      for layer in layers:
        h = jnp.tanh(layer(h))
      return (), h
    if self.controller_layers == 1:
      return self.core(state, x)
    new_state, h = [], x
    for layer, layer_state in zip(layers, state):
      layer_state, h = layer(layer_state, h)
      new_state.append(layer_state)
    return tuple(new_state), h

  def controller_step(self, carry: NTMState, x: Array
                      ) -> tuple[Any, Array, Array]:
    """The controller on `x [B, D]` and the previous reads.

    Returns:
      `(controller_state, h [B, C], raw [B, interface])`: the new controller
      state, its top output, and the interface vector before the heads'
      activations (clipped to `[-clip_value, clip_value]`).
    """
    batch_shape = x.shape[:-1]
    controller_in = jnp.concatenate(
        [x, carry.read_vectors.reshape(batch_shape + (-1,))], axis=-1)
    controller_state, h = self._controller(carry.controller, controller_in)
    raw = self.interface(h)
    if self.clip_value:
      raw = jnp.clip(raw, -self.clip_value, self.clip_value)
    return controller_state, h, raw

  def __call__(self, carry: NTMState, x: Array
               ) -> tuple[NTMState, tuple[Array, dict[str, Array]]]:
    batch_shape = x.shape[:-1]
    controller_state, h, raw = self.controller_step(carry, x)
    read_size = self._read_size()
    read_p = self._split_heads(raw[..., :read_size], self.num_read_heads,
                               write=False)
    write_p = self._split_heads(raw[..., read_size:], self.num_write_heads,
                                write=True)

    write_weights = self._address(carry.memory, carry.write_weights, write_p)
    memory = jax.vmap(ops.multi_write)(carry.memory, write_weights,
                                       write_p.erase, write_p.add)
    # The memory the read heads address and read: after this step's write,
    # or (read_first) before it.
    read_memory = carry.memory if self.head_order == 'read_first' else memory
    read_weights = self._address(read_memory, carry.read_weights, read_p)
    read_vectors = jax.vmap(jax.vmap(ops.read, in_axes=(None, 0)))(
        read_memory, read_weights)

    new_carry = NTMState(controller_state, memory, read_weights,
                         write_weights, read_vectors)
    y = jnp.concatenate([h, read_vectors.reshape(batch_shape + (-1,))],
                        axis=-1)
    aux = {}
    if self.return_aux:
      aux = {'read_weights': read_weights, 'write_weights': write_weights}
    return new_carry, (y, aux)

  # ---- initial state --------------------------------------------------------

  @nn.nowrap
  def initialize_carry(self, rng: PRNGKey, input_shape: tuple[int, ...]
                       ) -> NTMState:
    """Initial carry for inputs of shape `[B, D]` (no learned parameters).

    With `memory_init='learned'`, pass this carry through `learned_init`.
    """
    _check_config(self)
    batch_shape = tuple(input_shape[:-1])
    n, w = self.memory_size, self.word_size
    if self.memory_init == 'random':
      memory = self.memory_init_value * jax.random.normal(
          rng, batch_shape + (n, w), self.dtype)
    else:
      memory = jnp.full(batch_shape + (n, w), self.memory_init_value,
                        self.dtype)
    # Every head starts focused on slot 0, so location shifts have an origin.
    focus = jax.nn.one_hot(0, n, dtype=self.dtype)

    def heads(count):
      return jnp.broadcast_to(focus, batch_shape + (count, n))

    if self.controller == 'lstm':
      zeros = jnp.zeros(batch_shape + (self.controller_size,), self.dtype)
      controller = LSTMState(zeros, zeros)
      if self.controller_layers > 1:
        controller = (controller,) * self.controller_layers
    else:
      controller = ()
    return NTMState(
        controller=controller,
        memory=memory,
        read_weights=heads(self.num_read_heads),
        write_weights=heads(self.num_write_heads),
        read_vectors=jnp.zeros(batch_shape + (self.num_read_heads, w),
                               self.dtype),
    )

  def learned_init(self, carry: NTMState) -> NTMState:
    """Applies the learned initial memory and read vectors, if configured."""
    if self.memory_init != 'learned':
      return carry
    memory = jnp.broadcast_to(self.memory_bias, carry.memory.shape)
    reads = jnp.broadcast_to(self.read_bias, carry.read_vectors.shape)
    return carry._replace(memory=memory.astype(self.dtype),
                          read_vectors=reads.astype(self.dtype))

  @property
  def num_feature_axes(self) -> int:
    return 1
