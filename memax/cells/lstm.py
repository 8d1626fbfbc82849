"""A fused LSTM cell and the LSTM baseline cell.

The fused cell computes the four gates with one matrix product over
`[x, h]`, which on small controllers is several times faster than eight
separate products. It serves as the NTM controller and, stacked, as the LSTM
baseline of the NTM paper (Graves et al. 2014, sec. 4).
"""

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from memax.types import Array, PRNGKey


class LSTMState(NamedTuple):
  """Carry of one LSTM layer: cell `c [B, C]` and hidden `h [B, C]`."""

  c: Array
  h: Array


def _lstm_step(dense: nn.Module, state: LSTMState, x: Array,
               forget_bias: float) -> tuple[LSTMState, Array]:
  gates = dense(jnp.concatenate([x, state.h], axis=-1))
  i, g, f, o = jnp.split(gates, 4, axis=-1)
  c = jax.nn.sigmoid(f + forget_bias) * state.c + jax.nn.sigmoid(i) * jnp.tanh(g)
  h = jax.nn.sigmoid(o) * jnp.tanh(c)
  return LSTMState(c, h), h


class FusedLSTMCell(nn.RNNCellBase):
  """One LSTM layer with a single fused gate projection.

  Attributes:
    features: hidden size `C`.
    forget_bias: added to the forget gate's pre-activation (1.0 helps early
      training, Jozefowicz et al. 2015).
  """

  features: int
  forget_bias: float = 1.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, carry: LSTMState, x: Array) -> tuple[LSTMState, Array]:
    dense = nn.Dense(4 * self.features, dtype=self.dtype, name='gates')
    return _lstm_step(dense, carry, x, self.forget_bias)

  @nn.nowrap
  def initialize_carry(self, rng: PRNGKey, input_shape: tuple[int, ...]
                       ) -> LSTMState:
    del rng
    zeros = jnp.zeros(input_shape[:-1] + (self.features,), self.dtype)
    return LSTMState(zeros, zeros)

  @property
  def num_feature_axes(self) -> int:
    return 1


class LSTMBaseline(nn.RNNCellBase):
  """A stack of fused LSTM layers: the baseline of the NTM paper.

  Output `y` is `(h_top [B, C], aux)` with an empty `aux` dict, the same
  interface as `NTMCell`.

  Attributes:
    hidden_size: `C`, units per layer.
    num_layers: stacked layers (the NTM paper's baseline: 3 x 256).
    forget_bias: see `FusedLSTMCell`.
  """

  hidden_size: int = 100
  num_layers: int = 1
  forget_bias: float = 1.0
  dtype: Any = jnp.float32
  return_aux: bool = False

  @nn.compact
  def __call__(self, carry: tuple[LSTMState, ...], x: Array
               ) -> tuple[tuple[LSTMState, ...], tuple[Array, dict]]:
    new_carry = []
    h = x
    for layer, state in enumerate(carry):
      cell = FusedLSTMCell(self.hidden_size, self.forget_bias, self.dtype,
                           name=f'layer_{layer}')
      state, h = cell(state, h)
      new_carry.append(state)
    return tuple(new_carry), (h, {})

  @nn.nowrap
  def initialize_carry(self, rng: PRNGKey, input_shape: tuple[int, ...]
                       ) -> tuple[LSTMState, ...]:
    del rng
    for field in ('hidden_size', 'num_layers'):
      value = getattr(self, field)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'config.model.{field} must be a positive integer, '
                         f'got {value!r}.')
    zeros = jnp.zeros(input_shape[:-1] + (self.hidden_size,), self.dtype)
    return tuple(LSTMState(zeros, zeros) for _ in range(self.num_layers))

  @property
  def num_feature_axes(self) -> int:
    return 1
