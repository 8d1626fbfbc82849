"""Dynamic memory allocation and temporal links of the Differentiable Neural
Computer (Graves et al. 2016, "Hybrid computing using a neural network with
dynamic external memory", Nature 538, Methods: "Dynamic memory allocation"
and "Temporal memory linkage").

A DNC step, in the Methods' order: the usage is updated from the previous
write and read weights and this step's free gates (`dnc_usage`); the free
slots give the allocation weights (`dnc_allocation`); these and the content
weights give the write weights (`dnc_write_weights`); the memory is written
(`memax.ops.write`, erase then add); the link matrix and then the precedence
follow the write (`dnc_link`, `dnc_precedence`); each read head mixes the
backward and forward weights given by the links (`dnc_directional_weights`)
with its content weights by its read modes (`dnc_read_weights`).

Every op works on one example: no batch axis. Batch with `jax.vmap`. Shapes
use the legend of `memax.types`: `N` slots, `R` read heads.
"""

import chex
import jax
import jax.numpy as jnp

from memax.types import Array


def dnc_usage(prev_usage: Array, prev_write_weights: Array,
              prev_read_weights: Array, free_gates: Array) -> Array:
  """Usage `u_t = (u + w - u * w) * psi`, `psi = prod_i (1 - f_i r_i)`.

  A slot's usage grows with the previous write (`u + w - u w`, which stays
  in `[0, 1]`) and is released where a read head both read it at the
  previous step and frees it now (the retention vector `psi`).

  Args:
    prev_usage: `[N]` usage `u_{t-1}`.
    prev_write_weights: `[N]` write weights `w^w_{t-1}`.
    prev_read_weights: `[R, N]` read weights `w^r_{t-1}`, a row per head.
    free_gates: `[R]` free gates `f_t` in `[0, 1]`.

  Returns:
    `[N]` usage `u_t`.
  """
  chex.assert_rank([prev_usage, prev_write_weights, prev_read_weights,
                    free_gates], [1, 1, 2, 1])
  chex.assert_equal_shape([prev_usage, prev_write_weights])
  chex.assert_equal_shape_suffix([prev_usage, prev_read_weights], 1)
  chex.assert_equal_shape_prefix([prev_read_weights, free_gates], 1)
  retention = jnp.prod(1.0 - free_gates[:, None] * prev_read_weights,
                       axis=0)
  written = prev_usage + prev_write_weights - prev_usage * prev_write_weights
  return written * retention


def dnc_allocation(usage: Array) -> Array:
  """Allocation weights `a[phi_j] = (1 - u[phi_j]) prod_{i<j} u[phi_i]`.

  `phi` orders the slots by ascending usage, equal usages by slot index
  (lowest first): the least-used slot gets `1 - u`, and each later slot
  what the ones before it leave. The weights sum to at most 1. As in the
  Methods ("we ignore these discontinuities"), the gradient flows through
  the sorted usages and not through the order. Usages of exactly 0 or 1
  give finite values and gradients (the products are cumulative, never
  divided).

  Args:
    usage: `[N]` usage `u_t` in `[0, 1]`.

  Returns:
    `[N]` allocation weights `a_t`, in slot order.
  """
  chex.assert_rank(usage, 1)
  order = jnp.argsort(jax.lax.stop_gradient(usage), stable=True)
  sorted_usage = usage[order]
  # prod_{i<j}: the product of the sorted usages before position j.
  before = jnp.cumprod(jnp.concatenate(
      [jnp.ones((1,), usage.dtype), sorted_usage[:-1]]))
  sorted_allocation = (1.0 - sorted_usage) * before
  return jnp.zeros_like(usage).at[order].set(sorted_allocation)


def dnc_write_weights(allocation: Array, write_content_weights: Array,
                      allocation_gate: Array, write_gate: Array) -> Array:
  """Write weights `w^w = g_w (g_a a + (1 - g_a) c^w)`.

  Args:
    allocation: `[N]` allocation weights `a_t`.
    write_content_weights: `[N]` content weights `c^w_t` of the write key.
    allocation_gate: `[]` `g^a_t` in `[0, 1]`: allocate (1) or write by
      content (0).
    write_gate: `[]` `g^w_t` in `[0, 1]`: whether to write at all.

  Returns:
    `[N]` write weights `w^w_t`.
  """
  chex.assert_rank([allocation, write_content_weights, allocation_gate,
                    write_gate], [1, 1, 0, 0])
  chex.assert_equal_shape([allocation, write_content_weights])
  return write_gate * (allocation_gate * allocation
                       + (1.0 - allocation_gate) * write_content_weights)


def dnc_precedence(prev_precedence: Array, write_weights: Array) -> Array:
  """Precedence `p_t = (1 - sum_i w^w_t[i]) p_{t-1} + w^w_t`.

  How much each slot was the last one written to; `p_0 = 0`.

  Args:
    prev_precedence: `[N]` precedence `p_{t-1}`.
    write_weights: `[N]` write weights `w^w_t`.

  Returns:
    `[N]` precedence `p_t`.
  """
  chex.assert_rank([prev_precedence, write_weights], [1, 1])
  chex.assert_equal_shape([prev_precedence, write_weights])
  return (1.0 - jnp.sum(write_weights)) * prev_precedence + write_weights


def dnc_link(prev_link: Array, prev_precedence: Array,
             write_weights: Array) -> Array:
  """Link matrix `L_t[i, j] = (1 - w_i - w_j) L_{t-1}[i, j] + w_i p_{t-1}[j]`.

  `L[i, j]` is the degree to which slot `i` was written right after slot
  `j`. The diagonal is zero (`L_t[i, i] = 0`); `L_0 = 0`.

  Args:
    prev_link: `[N, N]` link matrix `L_{t-1}`.
    prev_precedence: `[N]` precedence `p_{t-1}` (before this write).
    write_weights: `[N]` write weights `w^w_t`.

  Returns:
    `[N, N]` link matrix `L_t`.
  """
  chex.assert_rank([prev_link, prev_precedence, write_weights], [2, 1, 1])
  chex.assert_equal_shape([prev_precedence, write_weights])
  chex.assert_shape(prev_link, write_weights.shape * 2)
  w = write_weights
  link = ((1.0 - w[:, None] - w[None, :]) * prev_link
          + w[:, None] * prev_precedence[None, :])
  return link * (1.0 - jnp.eye(w.shape[0], dtype=link.dtype))


def dnc_directional_weights(link: Array, prev_read_weights: Array
                            ) -> tuple[Array, Array]:
  """Forward `f_i = L w^r_i` and backward `b_i = L^T w^r_i` weights.

  Forward moves each head's previous read weights to the slots written
  after the ones it read, backward to the slots written before.

  Args:
    link: `[N, N]` link matrix `L_t`.
    prev_read_weights: `[R, N]` read weights `w^r_{t-1}`, a row per head.

  Returns:
    `(forward [R, N], backward [R, N])`.
  """
  chex.assert_rank([link, prev_read_weights], [2, 2])
  chex.assert_shape(link, prev_read_weights.shape[-1:] * 2)
  forward = prev_read_weights @ link.T
  backward = prev_read_weights @ link
  return forward, backward


def dnc_read_weights(backward: Array, content: Array, forward: Array,
                     read_modes: Array) -> Array:
  """Read weights `w^r_i = pi_i[0] b_i + pi_i[1] c^r_i + pi_i[2] f_i`.

  The read modes are in the paper's order: backward, content, forward.

  Args:
    backward: `[R, N]` backward weights `b_t`.
    content: `[R, N]` content weights `c^r_t` of the read keys.
    forward: `[R, N]` forward weights `f_t`.
    read_modes: `[R, 3]` read modes `pi_t` (each row a softmax).

  Returns:
    `[R, N]` read weights `w^r_t`.
  """
  chex.assert_rank([backward, content, forward, read_modes], 2)
  chex.assert_equal_shape([backward, content, forward])
  chex.assert_shape(read_modes, (backward.shape[0], 3))
  return (read_modes[:, 0:1] * backward + read_modes[:, 1:2] * content
          + read_modes[:, 2:3] * forward)
