"""Addressing ops of the Neural Turing Machine (Graves et al. 2014, sec. 3.3).

Every op works on one example and one head: no batch axis. Batch with
`jax.vmap` (over batch, then over heads). Shapes use the legend of
`memax.types`.
"""

import functools

import chex
import jax
import jax.numpy as jnp

from memax.types import Array


def oneplus(x: Array) -> Array:
  """`1 + softplus(x)`, maps reals to `[1, inf)` (Graves et al. 2016, DNC)."""
  return 1.0 + jax.nn.softplus(x)


def cosine_similarity(memory: Array, key: Array, *, eps: float = 1e-6
                      ) -> Array:
  """Cosine similarity between a key and every memory row (NTM eq. 6).

  `K[u, v] = u . v / (|u| |v| + eps)`. The norms are computed as
  `sqrt(sum(x^2) + eps^2)` so that the gradient stays finite for an
  all-zero memory row or key.

  Args:
    memory: `[N, W]` memory.
    key: `[W]` lookup key.
    eps: keeps the similarity and its gradient finite for zero vectors.

  Returns:
    `[N]` similarities in `[-1, 1]`.
  """
  chex.assert_rank([memory, key], [2, 1])
  chex.assert_equal_shape_suffix([memory, key], 1)
  return _cosine(memory, key, eps)


def _cosine_parts(memory, key, eps):
  memory_norm = jnp.sqrt(jnp.sum(memory * memory, axis=-1) + eps * eps)
  key_norm = jnp.sqrt(jnp.sum(key * key) + eps * eps)
  dot = memory @ key
  denom = memory_norm * key_norm + eps
  return dot / denom, (memory, key, dot, memory_norm, key_norm, denom)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _cosine(memory, key, eps):
  return _cosine_parts(memory, key, eps)[0]


def _cosine_fwd(memory, key, eps):
  return _cosine_parts(memory, key, eps)


def _cosine_bwd(eps, residuals, g):
  # The gradient written out so that the memory is read twice, not six times
  # (autodiff keeps and re-reads more `[N, W]` intermediates).
  del eps
  memory, key, dot, memory_norm, key_norm, denom = residuals
  g_dot = g / denom
  g_denom = -g * dot / (denom * denom)
  g_memory_norm = g_denom * key_norm
  g_key_norm = jnp.sum(g_denom * memory_norm)
  g_memory = (g_dot[:, None] * key[None, :]
              + (g_memory_norm / memory_norm)[:, None] * memory)
  g_key = g_dot @ memory + (g_key_norm / key_norm) * key
  return g_memory, g_key


_cosine.defvjp(_cosine_fwd, _cosine_bwd)


def content_weights(memory: Array, key: Array, strength: Array, *,
                    eps: float = 1e-6) -> Array:
  """Content-based addressing (NTM eq. 5): `softmax(strength * cosine)`.

  Args:
    memory: `[N, W]` memory.
    key: `[W]` lookup key.
    strength: `[]` key strength beta >= 0 (apply `oneplus` before calling).
    eps: passed to `cosine_similarity`.

  Returns:
    `[N]` weights over slots that sum to one.
  """
  chex.assert_rank([memory, key, strength], [2, 1, 0])
  return jax.nn.softmax(strength * cosine_similarity(memory, key, eps=eps))


def interpolate(content_weights: Array, prev_weights: Array, gate: Array
                ) -> Array:  # pylint: disable=redefined-outer-name
  """Interpolation gate (NTM eq. 7): `gate * content + (1 - gate) * prev`.

  Args:
    content_weights: `[N]` content weighting at time t.
    prev_weights: `[N]` the head's final weighting at time t-1.
    gate: `[]` interpolation gate in `[0, 1]`.

  Returns:
    `[N]` gated weighting.
  """
  chex.assert_rank([content_weights, prev_weights, gate], [1, 1, 0])
  chex.assert_equal_shape([content_weights, prev_weights])
  return gate * content_weights + (1.0 - gate) * prev_weights


def circular_shift(weights: Array, shift: Array) -> Array:
  """Circular convolution with a shift distribution (NTM eq. 8).

  `out[i] = sum_k shift[k] * weights[(i - (k - r)) mod N]`, so `shift[k]` is
  the probability of moving the focus by `k - r` slots: a one-hot shift at
  index `r + 1` gives `out[i] = weights[i - 1]`.

  Args:
    weights: `[N]` weighting.
    shift: `[2r+1]` shift distribution over offsets `-r..r` (odd length).

  Returns:
    `[N]` shifted weighting.
  """
  chex.assert_rank([weights, shift], [1, 1])
  width = shift.shape[0]
  if width % 2 != 1:
    raise ValueError(f'shift must have odd length 2r+1, got {width}.')
  r = width // 2
  # A sum over the 2r+1 offsets (static), rolled[k][i] = weights[i - (k - r)];
  # as elementwise terms it fuses into one loop on CPU.
  out = shift[0] * jnp.roll(weights, -r)
  for k in range(1, width):
    out = out + shift[k] * jnp.roll(weights, k - r)
  return out


def sharpen(weights: Array, gamma: Array, *, eps: float = 1e-6) -> Array:
  """Sharpening (NTM eq. 9): `w^gamma / sum(w^gamma)`.

  Computed in log space, `softmax(gamma * log(w + eps))`, so a large gamma or
  zero weights stay finite in value and gradient.

  Args:
    weights: `[N]` non-negative weighting.
    gamma: `[]` sharpening exponent >= 1.
    eps: floor added inside the log.

  Returns:
    `[N]` sharpened weighting that sums to one.
  """
  chex.assert_rank([weights, gamma], [1, 0])
  return jax.nn.softmax(gamma * jnp.log(weights + eps))


def address(memory: Array, prev_weights: Array, key: Array, strength: Array,
            gate: Array, shift: Array, gamma: Array, *, eps: float = 1e-6
            ) -> Array:
  """The full NTM addressing pipeline (NTM fig. 2, eqs. 5-9).

  content -> interpolation -> circular shift -> sharpening.

  Args:
    memory: `[N, W]` memory.
    prev_weights: `[N]` the head's weighting at t-1.
    key: `[W]` lookup key.
    strength: `[]` key strength.
    gate: `[]` interpolation gate in `[0, 1]`.
    shift: `[2r+1]` shift distribution.
    gamma: `[]` sharpening exponent >= 1.
    eps: numerical floor shared by the steps.

  Returns:
    `[N]` the head's weighting at t.
  """
  w = content_weights(memory, key, strength, eps=eps)
  w = interpolate(w, prev_weights, gate)
  w = circular_shift(w, shift)
  return sharpen(w, gamma, eps=eps)
