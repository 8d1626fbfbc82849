"""Memory read and write ops (Graves et al. 2014, sec. 3.1-3.2).

Batch-free: one example and one head. Shapes use `memax.types`' legend.
"""

import chex
import jax
import jax.numpy as jnp

from memax.types import Array


def read(memory: Array, weights: Array) -> Array:
  """Reading (NTM eq. 2): `r = sum_i w[i] M[i]`.

  Args:
    memory: `[N, W]` memory.
    weights: `[N]` read weighting.

  Returns:
    `[W]` read vector.
  """
  chex.assert_rank([memory, weights], [2, 1])
  chex.assert_equal_shape_prefix([memory, weights], 1)
  return weights @ memory


def write(memory: Array, weights: Array, erase: Array, add: Array) -> Array:
  """Erase then add (NTM eqs. 3-4).

  `M~[i] = M[i] * (1 - w[i] e)`, then `M'[i] = M~[i] + w[i] a`.

  Args:
    memory: `[N, W]` memory at t-1.
    weights: `[N]` write weighting.
    erase: `[W]` erase vector in `[0, 1]`.
    add: `[W]` add vector.

  Returns:
    `[N, W]` memory at t.
  """
  chex.assert_rank([memory, weights, erase, add], [2, 1, 1, 1])
  chex.assert_equal_shape_prefix([memory, weights], 1)
  chex.assert_equal_shape_suffix([memory, erase, add], 1)
  return _write(memory, weights, erase, add)


@jax.custom_vjp
def _write(memory, weights, erase, add):
  return memory * (1.0 - jnp.outer(weights, erase)) + jnp.outer(weights, add)


def _write_fwd(memory, weights, erase, add):
  return _write(memory, weights, erase, add), (memory, weights, erase, add)


def _write_bwd(residuals, g):
  # Written out: one elementwise pass for the memory and three reductions,
  # fewer `[N, W]` passes than autodiff produces.
  memory, weights, erase, add = residuals
  g_memory_old = g * memory
  return (g * (1.0 - jnp.outer(weights, erase)),
          g @ add - g_memory_old @ erase,
          -(weights @ g_memory_old),
          weights @ g)


_write.defvjp(_write_fwd, _write_bwd)


def multi_write(memory: Array, weights: Array, erase: Array, add: Array
                ) -> Array:
  """Several write heads at once (NTM sec. 3.2, multiple heads).

  The erasures multiply and the additions sum, so the order of the heads
  does not matter: `M' = M * prod_h (1 - w_h e_h^T) + sum_h w_h a_h^T`.

  Args:
    memory: `[N, W]` memory at t-1.
    weights: `[H, N]` write weightings.
    erase: `[H, W]` erase vectors.
    add: `[H, W]` add vectors.

  Returns:
    `[N, W]` memory at t.
  """
  chex.assert_rank([memory, weights, erase, add], [2, 2, 2, 2])
  chex.assert_equal_shape_prefix([weights, erase, add], 1)
  chex.assert_axis_dimension(weights, 1, memory.shape[0])
  chex.assert_equal_shape_suffix([memory, erase, add], 1)
  if weights.shape[0] == 1:
    return _write(memory, weights[0], erase[0], add[0])
  # A product over the (static, small) head axis written out: the gradient of
  # jnp.prod is several times slower on CPU.
  keep = 1.0 - jnp.outer(weights[0], erase[0])
  added = jnp.outer(weights[0], add[0])
  for h in range(1, weights.shape[0]):
    keep = keep * (1.0 - jnp.outer(weights[h], erase[h]))
    added = added + jnp.outer(weights[h], add[h])
  return memory * keep + added
