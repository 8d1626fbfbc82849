"""The Differentiable Neural Computer cell (Graves et al. 2016, Methods).

"Hybrid computing using a neural network with dynamic external memory",
Nature 538. One time step, in the Methods' order:

1. the controller reads `chi_t = [x_t; r_{t-1}]` and emits the interface
   vector `xi_t` (`interface_fields`): R read keys and strengths, a write
   key and strength, erase and write vectors, R free gates, the allocation
   and write gates, and R read modes;
2. the usage `u_t` follows the previous write and the reads freed by the
   free gates (`ops.dnc_usage`); the allocation weights `a_t` go to the
   least-used slots (`ops.dnc_allocation`);
3. the write weights mix allocation and the write key's content weights
   (`ops.dnc_write_weights`) and the memory is written, erase then add
   (`ops.write`);
4. the temporal link matrix `L_t` and the precedence `p_t` follow the write
   (`ops.dnc_link`, `ops.dnc_precedence`; or the sparse link,
   `ops.dnc_sparse_link`, with `link_sparsity=K`). The dense link and the
   directional weights of step 5 run as one op,
   `dnc_link_and_directional`, whose hand-written gradient keeps one
   `N x N` array per step;
5. each read head mixes the backward and forward weights of its previous
   read weights through `L_t` with its content weights on the written
   memory, by its read modes (`ops.dnc_read_weights`), and reads `r_t`.

The output features are `[h_t; r_t]`, where `h_t` is the controller output
(the concatenated outputs of its layers); the sequence model's readout
applies `W_y h_t + W_r r_t` as one linear layer over them.

The memory size `N` is an attribute, never a parameter shape: the same
parameters run with any `N` (the link matrix, dense or sparse, is state).

Several write heads (`num_write_heads=H`, deepmind/dnc's `num_writes`; the
paper has one): each has its own key, strength, erase and write vectors and
allocation and write gates; the usage counts their writes together
(`1 - prod_h (1 - w^w_h)` as the write in `ops.dnc_usage`:
`ops.dnc_multi_usage`); the heads allocate in turn, each on the usage
raised by the allocations before it (`u += (1 - u) g^a_h g^w_h a_h`:
`ops.dnc_multi_allocation`); the memory is written by all at once
(`ops.multi_write`); each head keeps its own link matrix and precedence;
and each read head has `2 H + 1` read modes, in the order backward through
each head's link, content, forward through each head's link
(`ops.dnc_multi_read_weights`; the paper's order for `H = 1`, deepmind/dnc
puts content last). With `H = 1` each `dnc_multi_*` op is its paper
op, so the step is the paper's, op for op.
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
STRENGTHS = {'oneplus': ops.oneplus, 'softplus': jax.nn.softplus}


class DNCState(NamedTuple):
  """Carry of `DNCCell`.

  Attributes:
    controller: a tuple of one `LSTMState` (`[B, C]` arrays) per layer, or
      `()` for a feed-forward controller.
    memory: `[B, N, W]` `M_t`.
    usage: `[B, N]` `u_t`.
    link: `[B, H, N, N]` link matrices `L_t`, one per write head, or with
      `link_sparsity=K` an `ops.SparseLink` of `[B, H, N, K]` arrays.
    precedence: `[B, H, N]` `p_t`, one per write head.
    read_weights: `[B, R, N]` `w^r_t`.
    write_weights: `[B, H, N]` `w^w_t`, one per write head.
    read_vectors: `[B, R, W]` `r_t`.
  """

  controller: Any
  memory: Array
  usage: Array
  link: Any
  precedence: Array
  read_weights: Array
  write_weights: Array
  read_vectors: Array


@jax.custom_vjp
def _clip_gradient(x: Array, bound: float) -> Array:
  """The identity, whose gradient is clipped to `[-bound, bound]`."""
  del bound
  return x


def _clip_gradient_fwd(x, bound):
  return x, bound


def _clip_gradient_bwd(bound, g):
  return jnp.clip(g, -bound, bound), None


_clip_gradient.defvjp(_clip_gradient_fwd, _clip_gradient_bwd)


def _check_config(cell: 'DNCCell') -> None:
  """Raises ValueError naming the config field of a bad attribute."""
  checks.check_positive_ints(cell, ('controller_size', 'controller_layers',
                                    'memory_size', 'word_size',
                                    'num_read_heads', 'num_write_heads'))
  if cell.controller not in CONTROLLERS:
    raise ValueError(f'config.model.controller must be one of {CONTROLLERS}, '
                     f'got {cell.controller!r}.')
  if cell.strength not in STRENGTHS:
    raise ValueError(f'config.model.strength must be one of '
                     f'{tuple(STRENGTHS)}, got {cell.strength!r}.')
  k = cell.link_sparsity
  if isinstance(k, bool) or not isinstance(k, int) or k < 0:
    raise ValueError('config.model.link_sparsity must be an integer >= 0 '
                     f'(0: the dense N x N link), got {k!r}.')
  for field in ('controller_clip', 'activation_grad_clip'):
    value = getattr(cell, field)
    if not isinstance(value, (int, float)) or value < 0:
      raise ValueError(f'config.model.{field} must be >= 0 (0 disables), '
                       f'got {value!r}.')


def _over_heads(fn: Any, in_axes: tuple[int | None, ...], *args: Any) -> Any:
  """`fn` (over a batch) mapped over the write-head axis 1 of the arguments
  whose `in_axes` is 1 (None: shared by the heads); outputs get the head
  axis at 1.

  The heads (a few, static) run one after another on their slices, not under
  a `vmap`: a vmap over the head axis made the DNC's train step twice as
  slow with one head and 2.6 times with two (the batched dense link and its
  hand-written gradient; `docs/benchmarks.md`).
  """
  heads = jax.tree.leaves(args[in_axes.index(1)])[0].shape[1]
  outs = [fn(*[a if ax is None else jax.tree.map(lambda x: x[:, h], a)
               for a, ax in zip(args, in_axes)]) for h in range(heads)]
  return jax.tree.map(lambda *xs: jnp.stack(xs, axis=1), *outs)


class DNCCell(nn.RNNCellBase):
  """Differentiable Neural Computer cell, carry-first for `lax.scan`.

  `__call__(carry, x [B, D]) -> (carry, (y [B, L*C + R*W], aux))`: `y` is
  the controller output of all `L` layers and the new read vectors. With
  `return_aux`, `aux` holds `write_weights [B, 1, N]`, `read_weights
  [B, R, N]`, `usage [B, N]`, `allocation [B, N]`, `read_modes [B, R, 3]`
  (backward, content, forward), `free_gates [B, R]`, `allocation_gate [B]`
  and `write_gate [B]`. `__call__` is `step_projected(carry,
  project_inputs(x))`: `SequenceModel` projects all steps' inputs before its
  loop (`memax.models.sequence`), so a subclass changes the step in
  `step_projected`.

  Attributes:
    controller: 'lstm' (the paper's deep LSTM) or 'feedforward' (tanh
      layers, as Extended Data Fig. 1's memory-reuse copy).
    controller_size: `C`, units per layer.
    controller_layers: `L`. Layer `l` reads `[chi_t; h^{l-1}_t]` (layer 1
      reads `chi_t`), and the controller output is `[h^1_t; ...; h^L_t]`,
      as in the Methods.
    memory_size: `N` slots (free to change between training and evaluation).
    word_size: `W`.
    num_read_heads: `R`.
    num_write_heads: `H` (the paper: 1; deepmind/dnc's `num_writes`).
    strength: activation of the key strengths: 'oneplus' (the paper,
      `1 + softplus`, >= 1) or 'softplus' (deepmind/dnc, > 0).
    link_sparsity: 0 for the dense `N x N` link matrix; `K > 0` for the
      Methods' sparse link, `K` entries per row (`O(N K)`; equal to the
      dense one when `K >= N`).
    controller_clip: clip the controller's outputs and LSTM state to
      `[-c, c]` each step (deepmind/dnc: 20); 0 disables.
    activation_grad_clip: clip the gradients of the controller's layer
      outputs and states element-wise to `[-g, g]` (the paper: 10); 0
      disables.
    forget_bias: the LSTM forget-gate bias.
    eps: numerical floor of the content addressing.
    return_aux: also return the weightings, usage and gates for plots.
  """

  controller: str = 'lstm'
  controller_size: int = 64
  controller_layers: int = 1
  memory_size: int = 16
  word_size: int = 16
  num_read_heads: int = 4
  num_write_heads: int = 1
  strength: str = 'oneplus'
  link_sparsity: int = 0
  controller_clip: float = 20.0
  activation_grad_clip: float = 0.0
  forget_bias: float = 1.0
  eps: float = 1e-6
  return_aux: bool = False
  dtype: Any = jnp.float32

  def setup(self):
    _check_config(self)
    if self.controller == 'lstm':
      self.layers = [FusedLSTMCell(self.controller_size, self.forget_bias,
                                   dtype=self.dtype)
                     for _ in range(self.controller_layers)]
    else:
      self.layers = [nn.Dense(self.controller_size, dtype=self.dtype)
                     for _ in range(self.controller_layers)]
    self.interface = nn.Dense(
        interface.interface_size(self.interface_fields()), dtype=self.dtype)

  # ---- interface layout -----------------------------------------------------

  def interface_fields(self) -> tuple[interface.Field, ...]:
    """The interface vector `xi_t` of the Methods, in its order.

    Its size is `W R + 3 W + 5 R + 3` (with `H` write heads, `W R + 3 W H
    + R (2 H + 3) + 3 H`: each write field per head).
    """
    r, w, h = self.num_read_heads, self.word_size, self.num_write_heads
    strength = STRENGTHS[self.strength]
    return (
        interface.Field('read_keys', (r, w)),
        interface.Field('read_strengths', (r,), strength),
        interface.Field('write_key', (h, w)),
        interface.Field('write_strength', (h,), strength),
        interface.Field('erase', (h, w), jax.nn.sigmoid),
        interface.Field('write_vector', (h, w)),
        interface.Field('free_gates', (r,), jax.nn.sigmoid),
        interface.Field('allocation_gate', (h,), jax.nn.sigmoid),
        interface.Field('write_gate', (h,), jax.nn.sigmoid),
        interface.Field('read_modes', (r, 2 * h + 1), jax.nn.softmax),
    )

  # ---- the step -------------------------------------------------------------

  def _limit(self, x: Array) -> Array:
    """The controller clip and the activation-gradient clip, if enabled."""
    if self.controller_clip:
      x = jnp.clip(x, -self.controller_clip, self.controller_clip)
    if self.activation_grad_clip:
      x = _clip_gradient(x, float(self.activation_grad_clip))
    return x

  def project_inputs(self, xs: Array) -> Any:
    """Each LSTM layer's input projection `[..., 4C]` of inputs `[..., D]`,
    all time steps at once (`memax.cells.lstm`'s module docstring); the
    inputs themselves for the feed-forward controller."""
    if self.controller != 'lstm':
      return xs
    reads = self.num_read_heads * self.word_size
    return tuple(layer.project(xs, reads + (self.controller_size if l else 0))
                 for l, layer in enumerate(self.layers))

  def controller_step(self, carry: DNCState, x: Array
                      ) -> tuple[Any, Array, Array]:
    """The controller on `chi_t = [x_t; r_{t-1}]` (each layer above the
    first also on the output of the one below).

    Returns:
      `(controller state, h [B, L*C], xi [B, W R + 3 W + 5 R + 3])`: the
      new controller state, the concatenated layer outputs, and the
      interface vector before its fields' activations (`interface_fields`).
    """
    return self._controller(carry, self.project_inputs(x))

  def _controller(self, carry: DNCState, projected: Any
                  ) -> tuple[Any, Array, Array]:
    batch = carry.read_vectors.shape[:-2]
    reads = carry.read_vectors.reshape(batch + (-1,))
    states, outputs = [], []
    for l, layer in enumerate(self.layers):
      rest = reads if l == 0 else jnp.concatenate([reads, outputs[-1]], -1)
      if self.controller == 'lstm':
        state, _ = layer.step(carry.controller[l], projected[l], rest)
        state = LSTMState(self._limit(state.c), self._limit(state.h))
        states.append(state)
        outputs.append(state.h)
      else:
        layer_in = jnp.concatenate([projected, rest], -1)
        outputs.append(self._limit(jnp.tanh(layer(layer_in))))
    h = jnp.concatenate(outputs, axis=-1) if len(outputs) > 1 else outputs[0]
    return tuple(states), h, self.interface(h)

  def __call__(self, carry: DNCState, x: Array
               ) -> tuple[DNCState, tuple[Array, dict[str, Array]]]:
    return self.step_projected(carry, self.project_inputs(x))

  def step_projected(self, carry: DNCState, projected: Any
                     ) -> tuple[DNCState, tuple[Array, dict[str, Array]]]:
    """One step from the step's `project_inputs` output."""
    controller, h, xi = self._controller(carry, projected)
    p = interface.split(xi, self.interface_fields())
    eps = self.eps

    def content(memory, key, strength):
      return ops.content_weights(memory, key, strength, eps=eps)

    heads = self.num_write_heads
    usage = jax.vmap(ops.dnc_multi_usage)(
        carry.usage, carry.write_weights, carry.read_weights, p['free_gates'])
    allocation = jax.vmap(ops.dnc_multi_allocation)(
        usage, p['allocation_gate'] * p['write_gate'])
    write_content = _over_heads(
        jax.vmap(content), (None, 1, 1), carry.memory, p['write_key'],
        p['write_strength'])
    write_weights = _over_heads(
        jax.vmap(ops.dnc_write_weights), (1, 1, 1, 1), allocation,
        write_content, p['allocation_gate'], p['write_gate'])
    memory = jax.vmap(ops.multi_write)(carry.memory, write_weights,
                                       p['erase'], p['write_vector'])
    # Each write head's link and precedence; the directional weights of every
    # read head through each: `[B, H, R, N]`.
    if self.link_sparsity:
      link = _over_heads(jax.vmap(ops.dnc_sparse_link), (1, 1, 1),
                         carry.link, carry.precedence, write_weights)
      forward, backward = _over_heads(
          jax.vmap(ops.dnc_sparse_directional_weights), (1, None), link,
          carry.read_weights)
    else:
      link, forward, backward = _over_heads(
          jax.vmap(ops.dnc_link_and_directional), (1, 1, 1, None),
          carry.link, carry.precedence, write_weights, carry.read_weights)
    precedence = _over_heads(jax.vmap(ops.dnc_precedence), (1, 1),
                             carry.precedence, write_weights)
    read_content = jax.vmap(jax.vmap(content, in_axes=(None, 0, 0)))(
        memory, p['read_keys'], p['read_strengths'])
    modes = p['read_modes']  # [B, R, 2H + 1]: backward x H, content, forward x H
    read_weights = jax.vmap(ops.dnc_multi_read_weights)(
        backward, read_content, forward, modes)
    if heads > 1:
      # For plots and `memax.analysis`: each kind's share over the heads.
      modes = jnp.stack([modes[..., :heads].sum(-1), modes[..., heads],
                         modes[..., heads + 1:].sum(-1)], axis=-1)
    read_vectors = jnp.einsum('brn,bnw->brw', read_weights, memory)

    new_carry = DNCState(controller, memory, usage, link, precedence,
                         read_weights, write_weights, read_vectors)
    y = jnp.concatenate(
        [h, read_vectors.reshape(h.shape[:-1] + (-1,))], axis=-1)
    aux = {}
    if self.return_aux:
      one = heads == 1  # the paper's shapes, without a head axis
      aux = {'write_weights': write_weights,
             'read_weights': read_weights, 'usage': usage,
             'allocation': allocation[:, 0] if one else allocation,
             'read_modes': modes, 'free_gates': p['free_gates'],
             'allocation_gate': (p['allocation_gate'][:, 0] if one
                                 else p['allocation_gate']),
             'write_gate': p['write_gate'][:, 0] if one else p['write_gate']}
    return new_carry, (y, aux)

  # ---- initial state --------------------------------------------------------

  @nn.nowrap
  def initialize_carry(self, rng: PRNGKey, input_shape: tuple[int, ...]
                       ) -> DNCState:
    """The zero state of the Methods for inputs `[B, D]`: empty memory and
    link, zero usage, precedence, weights and reads."""
    del rng
    _check_config(self)
    batch = tuple(input_shape[:-1])
    n, w, r = self.memory_size, self.word_size, self.num_read_heads

    def zeros(*shape):
      return jnp.zeros(batch + shape, self.dtype)

    if self.controller == 'lstm':
      layer = LSTMState(zeros(self.controller_size),
                        zeros(self.controller_size))
      controller = (layer,) * self.controller_layers
    else:
      controller = ()
    h = self.num_write_heads
    if self.link_sparsity:
      empty = ops.SparseLink.empty(n, self.link_sparsity, self.dtype)
      link = jax.tree.map(
          lambda a: jnp.broadcast_to(a, batch + (h,) + a.shape), empty)
    else:
      link = zeros(h, n, n)
    return DNCState(controller=controller, memory=zeros(n, w),
                    usage=zeros(n), link=link, precedence=zeros(h, n),
                    read_weights=zeros(r, n), write_weights=zeros(h, n),
                    read_vectors=zeros(r, w))

  @property
  def num_feature_axes(self) -> int:
    return 1
