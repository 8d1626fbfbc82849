"""Least-recently-used access (LRUA), the memory of the MANN of Santoro et
al. 2016, "One-shot learning with memory-augmented neural networks"
(arXiv 1605.06065, sec. 3.2, eqs. 17-22).

Reads are pure content lookups (`memax.ops.content_weights`, or a softmax of
`cosine_similarity` without a key strength, eqs. 17-19). Writes go either to
the slot read at the previous step or to a least-used slot, interpolated by a
learned gate (eq. 22); the usage that tracks "least used" decays and grows
with every read and write (eq. 20).

Every op works on one example: no batch axis. Batch with `jax.vmap`. Shapes
use the legend of `memax.types`.
"""

import chex
import jax
import jax.numpy as jnp

from memax.types import Array


def lrua_usage(prev_usage: Array, read_weights: Array, write_weights: Array,
               *, decay: float) -> Array:
  """Usage weights (eq. 20): `decay * u + sum_i w^r_i + sum_i w^w_i`.

  Args:
    prev_usage: `[N]` usage `w^u_{t-1}`.
    read_weights: `[R, N]` read weights of this step, one row per head.
    write_weights: `[H, N]` write weights of this step.
    decay: `gamma` in `[0, 1]` (the paper's text: 0.99; both public
      implementations: 0.95).

  Returns:
    `[N]` usage `w^u_t`.
  """
  chex.assert_rank([prev_usage, read_weights, write_weights], [1, 2, 2])
  chex.assert_equal_shape_suffix([prev_usage, read_weights, write_weights],
                                 1)
  return (decay * prev_usage + jnp.sum(read_weights, axis=0)
          + jnp.sum(write_weights, axis=0))


def least_used(usage: Array, *, num: int) -> Array:
  """The `num` least-used slots, one indicator row each (eq. 21).

  Row `j` is one-hot at the slot with the `(j+1)`-th smallest usage; equal
  usages go to the lower slot index first. Use row `i` as head `i`'s
  least-used slot, or the sum of the rows as the paper's single indicator
  `w^lu` with `num` ones (`w^lu(i) = 1` where `w^u(i) <= m(w^u, num)`, the
  `num`-th smallest usage). The indicator is piecewise constant in the
  usage: its gradient is zero.

  Args:
    usage: `[N]` usage weights.
    num: how many slots, `1 <= num <= N`.

  Returns:
    `[num, N]` one-hot rows, in the usage's dtype.
  """
  chex.assert_rank(usage, 1)
  n = usage.shape[0]
  if not isinstance(num, int) or not 1 <= num <= n:
    raise ValueError(f'least_used: num must be an integer in [1, {n}] (the '
                     f'memory slots), got {num!r}.')
  # `top_k` orders equal values by index, lowest first.
  _, slots = jax.lax.top_k(-jax.lax.stop_gradient(usage), num)
  return jax.nn.one_hot(slots, n, dtype=usage.dtype)


def lrua_write_weights(prev_read_weights: Array, prev_least_used: Array,
                       gate: Array) -> Array:
  """Write weights (eq. 22): `gate * w^r_{t-1} + (1 - gate) * w^lu_{t-1}`.

  Args:
    prev_read_weights: `[N]` the head's read weights at t-1.
    prev_least_used: `[N]` least-used indicator of the usage at t-1 (a row
      of `least_used`, or their sum).
    gate: `[]` `sigmoid(alpha)` in `[0, 1]`.

  Returns:
    `[N]` write weights.
  """
  chex.assert_rank([prev_read_weights, prev_least_used, gate], [1, 1, 0])
  chex.assert_equal_shape([prev_read_weights, prev_least_used])
  return gate * prev_read_weights + (1.0 - gate) * prev_least_used
