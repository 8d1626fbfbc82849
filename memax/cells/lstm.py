"""A fused LSTM cell and the LSTM baseline cell.

The fused cell computes the four gates with one matrix product over
`[x, h]`, which on small controllers is several times faster than eight
separate products. It serves as the NTM controller and, stacked, as the LSTM
baseline of the NTM paper (Graves et al. 2014, sec. 4).

Input projection outside the recurrence. The part of the gates that depends
on the step's input alone, `x_t W_x + b`, does not depend on the carry, so
`project` computes it for all time steps at once, one large matrix product
before the scan, and `step` adds the part that does depend on it, `[r; h]
W_rh`, inside. `SequenceModel` does this for any cell with
`project_inputs` and `step_projected` (`LSTMBaseline`, `MANNCell`,
`DNCCell`; the NTM's inputs are a few bits, so it keeps one product). The
parameters are those of one `nn.Dense` named 'gates' over `[x, r, h]`, as
before the split: checkpoints load unchanged, and the values differ from
the single product by float rounding only.
"""

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from memax.cells import checks
from memax.types import Array, PRNGKey


class LSTMState(NamedTuple):
  """Carry of one LSTM layer: cell `c [B, C]` and hidden `h [B, C]`."""

  c: Array
  h: Array


def _lstm_update(gates: Array, state: LSTMState,
                 forget_bias: float) -> tuple[LSTMState, Array]:
  i, g, f, o = jnp.split(gates, 4, axis=-1)
  c = jax.nn.sigmoid(f + forget_bias) * state.c + jax.nn.sigmoid(i) * jnp.tanh(g)
  h = jax.nn.sigmoid(o) * jnp.tanh(c)
  return LSTMState(c, h), h


class _Gates(nn.Module):
  """The gate projection's `kernel [D, 4C]` and `bias [4C]`: `nn.Dense`'s
  names, shapes and initialisers, so the parameters are a Dense's. Called
  with `in_features` it creates (or checks) them; with None it returns the
  existing ones (after `project` created them)."""

  features: int

  @nn.compact
  def __call__(self, in_features: int | None) -> tuple[Array, Array]:
    if in_features is None:
      if not self.has_variable('params', 'kernel'):
        raise ValueError(
            'FusedLSTMCell.step needs the parameters that `project` or '
            '`__call__` creates: initialise the cell through one of them '
            '(e.g. `init` of the cell itself, not of its step method).')
      return (self.get_variable('params', 'kernel'),
              self.get_variable('params', 'bias'))
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (in_features, self.features), jnp.float32)
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,),
                      jnp.float32)
    return kernel, bias


class FusedLSTMCell(nn.RNNCellBase):
  """One LSTM layer with a single fused gate projection.

  `__call__(carry, x)` is one step on `x [B, D]`. The same step split in
  two (module docstring): `project(x0 [..., D0], rest_features=R)` is
  `x0 W[:D0] + b` for an input whose first `D0` features are known ahead
  (any leading axes, e.g. all time steps), and `step(carry, projected
  [B, 4C], rest [B, R])` adds `[rest, h] W[D0:]`; `__call__(carry, [x0,
  rest])` equals `step(carry, project(x0, R), rest)` up to float rounding.
  `rest` must have the `R` features given to `project` (the kernel's last
  `R + C` rows are its). Products accumulate in float32 and the gates are
  cast to `dtype` once.

  Attributes:
    features: hidden size `C`.
    forget_bias: added to the forget gate's pre-activation (1.0 helps early
      training, Jozefowicz et al. 2015).
  """

  features: int
  forget_bias: float = 1.0
  dtype: Any = jnp.float32

  def setup(self):
    self.gates = _Gates(4 * self.features)

  def _dot(self, x: Array, kernel: Array) -> Array:
    x, kernel = jnp.asarray(x, self.dtype), jnp.asarray(kernel, self.dtype)
    return jnp.dot(x, kernel, preferred_element_type=jnp.float32)

  def __call__(self, carry: LSTMState, x: Array) -> tuple[LSTMState, Array]:
    kernel, bias = self.gates(x.shape[-1] + self.features)
    gates = self._dot(jnp.concatenate([x, carry.h], axis=-1), kernel) + bias
    return _lstm_update(gates.astype(self.dtype), carry, self.forget_bias)

  def project(self, x0: Array, rest_features: int = 0) -> Array:
    """`x0 W[:D0] + b`, `[..., 4C]` in float32, for inputs `x0 [..., D0]`
    followed by `rest_features` more per step."""
    d0 = x0.shape[-1]
    kernel, bias = self.gates(d0 + rest_features + self.features)
    return self._dot(x0, kernel[:d0]) + bias

  def step(self, carry: LSTMState, projected: Array, rest: Array | None = None
           ) -> tuple[LSTMState, Array]:
    """One step from `project`'s output `[B, 4C]` and the rest of the input
    `[B, R]` (None when R = 0)."""
    kernel, _ = self.gates(None)
    tail = carry.h if rest is None else jnp.concatenate([rest, carry.h], -1)
    if tail.shape[-1] >= kernel.shape[0]:
      raise ValueError(
          f'FusedLSTMCell.step: rest has {tail.shape[-1] - self.features} '
          f'features, but the kernel has {kernel.shape[0]} rows for the '
          f'projected input, the rest and h ({self.features}).')
    gates = projected + self._dot(tail, kernel[-tail.shape[-1]:])
    return _lstm_update(gates.astype(self.dtype), carry, self.forget_bias)

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

  def setup(self):
    # Named layer_0, layer_1, ... (a list attribute's names).
    self.layer = [FusedLSTMCell(self.hidden_size, self.forget_bias,
                                self.dtype) for _ in range(self.num_layers)]

  def __call__(self, carry: tuple[LSTMState, ...], x: Array
               ) -> tuple[tuple[LSTMState, ...], tuple[Array, dict]]:
    return self.step_projected(carry, self.project_inputs(x))

  def project_inputs(self, xs: Array) -> Array:
    """The first layer's input projection `[..., 4C]` of inputs `[..., D]`
    (all time steps at once; `lstm` module docstring)."""
    return self.layer[0].project(xs)

  def step_projected(self, carry: tuple[LSTMState, ...], projected: Array
                     ) -> tuple[tuple[LSTMState, ...], tuple[Array, dict]]:
    """One step from the step's `project_inputs` output `[B, 4C]`."""
    new_carry = []
    for index, (layer, state) in enumerate(zip(self.layer, carry)):
      state, h = (layer.step(state, projected) if index == 0
                  else layer(state, h))
      new_carry.append(state)
    return tuple(new_carry), (h, {})

  @nn.nowrap
  def initialize_carry(self, rng: PRNGKey, input_shape: tuple[int, ...]
                       ) -> tuple[LSTMState, ...]:
    del rng
    checks.check_positive_ints(self, ('hidden_size', 'num_layers'))
    zeros = jnp.zeros(input_shape[:-1] + (self.hidden_size,), self.dtype)
    return tuple(LSTMState(zeros, zeros) for _ in range(self.num_layers))

  @property
  def num_feature_axes(self) -> int:
    return 1
