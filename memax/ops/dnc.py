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
`dnc_link_and_directional` computes the link and the directional weights
in one op, with a hand-written gradient that keeps one `N x N` array per
step under `lax.scan` (the cell's path; the two ops stay for reuse and
forward-mode differentiation).

Every op works on one example: no batch axis. Batch with `jax.vmap`. Shapes
use the legend of `memax.types`: `N` slots, `R` read heads, `H` write
heads (`dnc_multi_*`: several write heads, as in deepmind/dnc).
"""

from typing import NamedTuple

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
  # The ascending order with ties to the lower index, by `lax.top_k` of
  # the negated usages (it puts equal values in index order): on CPU about
  # twice as fast as a stable `argsort`, which calls its comparator per
  # comparison.
  _, order = jax.lax.top_k(-jax.lax.stop_gradient(usage), usage.shape[0])
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


def dnc_link_and_directional(prev_link: Array, prev_precedence: Array,
                             write_weights: Array, prev_read_weights: Array
                             ) -> tuple[Array, Array, Array]:
  """`dnc_link`, then `dnc_directional_weights` through the new link.

  The same values as the two ops, with a gradient written out by hand
  (`jax.custom_vjp`) that keeps only the inputs: under `lax.scan` and
  `jax.grad` one `N x N` array per step (`L_{t-1}`) instead of the several
  that autodiff saves (`L_{t-1}`, `L_t` and broadcast factors), and a
  backward pass that reads `L_{t-1}` and the link's cotangent a few times
  without building `L_t` or other `N x N` temporaries. On CPU the dense
  DNC's train step is dominated by these arrays. Reverse mode only: use
  the two ops for `jax.jvp`.

  Args:
    prev_link: `[N, N]` link matrix `L_{t-1}`.
    prev_precedence: `[N]` precedence `p_{t-1}` (before this write).
    write_weights: `[N]` write weights `w^w_t`.
    prev_read_weights: `[R, N]` read weights `w^r_{t-1}`, a row per head.

  Returns:
    `(link [N, N], forward [R, N], backward [R, N])`: `L_t`, `f_i = L_t
    w^r_i` and `b_i = L_t^T w^r_i`.
  """
  chex.assert_rank([prev_link, prev_precedence, write_weights,
                    prev_read_weights], [2, 1, 1, 2])
  chex.assert_equal_shape([prev_precedence, write_weights])
  chex.assert_shape(prev_link, write_weights.shape * 2)
  chex.assert_equal_shape_suffix([write_weights, prev_read_weights], 1)
  return _link_and_directional(prev_link, prev_precedence, write_weights,
                               prev_read_weights)


def _link_and_directional_fwd(prev_link, prev_precedence, write_weights,
                              prev_read_weights):
  link = dnc_link(prev_link, prev_precedence, write_weights)
  forward, backward = dnc_directional_weights(link, prev_read_weights)
  return (link, forward, backward), (prev_link, prev_precedence,
                                     write_weights, prev_read_weights)


@jax.custom_vjp
def _link_and_directional(prev_link, prev_precedence, write_weights,
                          prev_read_weights):
  return _link_and_directional_fwd(prev_link, prev_precedence, write_weights,
                                   prev_read_weights)[0]


def _link_and_directional_bwd(residuals, cotangents):
  """The vector-Jacobian product from `L_{t-1}`, `p`, `w` and `r` alone.

  With `L = L_{t-1}`, `c_ij = 1 - w_i - w_j` and the mask `M = 1 - I`,
  `L_t = M o (c o L + w p^T)`. The new link's total cotangent is `G =
  g_L + sum_h g_f[h] r[h]^T + r[h] g_b[h]^T`, and only `M o G` reaches the
  inputs: `d L = c o M o G`, `d w_i = sum_j (M G)_ij (p_j - L_ij) -
  sum_j (M G)_ji L_ji`, `d p = (M G)^T w`, `d r_h = L_t^T g_f[h] + L_t
  g_b[h]`. `d L` is the only `N x N` result; every other term is expanded
  into products of `L` or `g_L` with vectors, minus the diagonal's share,
  so that neither `G` nor `L_t` is built.
  """
  prev, p, w, r = residuals
  g_link, g_fwd, g_bwd = cotangents
  eye = jnp.eye(w.shape[0], dtype=bool)
  outer = jnp.concatenate([g_fwd, r]).T @ jnp.concatenate([r, g_bwd])
  d_link = jnp.where(
      eye, 0.0, (1.0 - w[:, None] - w[None, :]) * (g_link + outer))
  g_diag = jnp.diagonal(g_link) + jnp.sum(g_fwd * r + r * g_bwd, axis=0)
  l_diag = jnp.diagonal(prev)
  # L times [r, g_b, w g_b] and L^T times [g_f, r, (1 - w) g_f], per head.
  l_r, l_gb, l_wgb = jnp.split(
      jnp.concatenate([r, g_bwd, w[None] * g_bwd]) @ prev.T, 3)
  lt_gf, lt_r, lt_wgf = jnp.split(
      jnp.concatenate([g_fwd, r, (1.0 - w[None]) * g_fwd]) @ prev, 3)
  # sum_j (M G)_ij (p_j - L_ij) and sum_j (M G)_ji L_ji.
  rows = (jnp.sum(g_link * (p[None, :] - prev), axis=1)
          + jnp.sum(g_fwd * ((r @ p)[:, None] - l_r)
                    + r * ((g_bwd @ p)[:, None] - l_gb), axis=0)
          - g_diag * (p - l_diag))
  columns = (jnp.sum(g_link * prev, axis=0)
             + jnp.sum(r * lt_gf + g_bwd * lt_r, axis=0)
             - g_diag * l_diag)
  d_w = rows - columns
  d_p = (w @ g_link
         + jnp.sum((g_fwd @ w)[:, None] * r + (r @ w)[:, None] * g_bwd,
                   axis=0)
         - g_diag * w)
  # L_t = U - diag(u), U = c o L + w p^T, u = diag(U):
  # U^T x = L^T ((1 - w) x) - w (L^T x) + p (w . x); U y = (1 - w) (L y) -
  # L (w y) + w (p . y).
  u = (1.0 - 2.0 * w) * l_diag + w * p
  d_r = (lt_wgf - w[None] * lt_gf + (g_fwd @ w)[:, None] * p[None]
         + (1.0 - w[None]) * l_gb - l_wgb + (g_bwd @ p)[:, None] * w[None]
         - u[None] * (g_fwd + g_bwd))
  return (d_link.astype(prev.dtype), d_p.astype(p.dtype),
          d_w.astype(w.dtype), d_r.astype(r.dtype))


_link_and_directional.defvjp(_link_and_directional_fwd,
                             _link_and_directional_bwd)


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


# ----------------------------------------------------------------------------
# Several write heads (deepmind/dnc's `num_writes`; the Methods have one).
# Each head `h` has its own write weights, link matrix and precedence (the
# ops above, once per head); these three combine the heads where the paper's
# single head has one term.


def dnc_multi_usage(prev_usage: Array, prev_write_weights: Array,
                    prev_read_weights: Array, free_gates: Array) -> Array:
  """Usage after the writes of `H` heads: `dnc_usage` with the combined write.

  The heads' writes count as one write `w = 1 - prod_h (1 - w_h)` (each
  head raises the usage on what the heads before it left unused), so
  `u_t = (u + w - u w) psi`. With one head, `dnc_usage`.

  Args:
    prev_usage: `[N]` usage `u_{t-1}`.
    prev_write_weights: `[H, N]` each head's write weights `w^w_{t-1, h}`.
    prev_read_weights: `[R, N]` read weights `w^r_{t-1}`.
    free_gates: `[R]` free gates `f_t` in `[0, 1]`.

  Returns:
    `[N]` usage `u_t`.
  """
  chex.assert_rank(prev_write_weights, 2)
  # `1 - prod_h (1 - w_h)` written out over the (static, few) heads: the
  # gradient of `jnp.prod` is several times slower on CPU.
  written = prev_write_weights[0]
  for h in range(1, prev_write_weights.shape[0]):
    written = written + prev_write_weights[h] * (1.0 - written)
  return dnc_usage(prev_usage, written, prev_read_weights, free_gates)


def dnc_multi_allocation(usage: Array, gates: Array) -> Array:
  """Each write head's allocation weights, the heads allocating in turn.

  Head `h` allocates (`dnc_allocation`) on the usage raised by the gated
  allocations of the heads before it, `u <- u + (1 - u) g_{h-1} a_{h-1}`,
  so two heads that both allocate write to different free slots. With one
  head, `dnc_allocation(u_t)`.

  Args:
    usage: `[N]` usage `u_t`.
    gates: `[H]` each head's allocation gate times its write gate,
      `g^a_{t, h} g^w_{t, h}`.

  Returns:
    `[H, N]` allocation weights `a_{t, h}`.
  """
  chex.assert_rank([usage, gates], [1, 1])
  allocations = [dnc_allocation(usage)]
  for h in range(1, gates.shape[0]):  # a few heads, static
    usage = usage + (1.0 - usage) * gates[h - 1] * allocations[-1]
    allocations.append(dnc_allocation(usage))
  return jnp.stack(allocations)


def dnc_multi_read_weights(backward: Array, content: Array, forward: Array,
                           read_modes: Array) -> Array:
  """Read weights over `H` write heads' links: `2H + 1` read modes.

  `w^r_i = sum_h pi_i[h] b_{i, h} + pi_i[H] c^r_i + sum_h pi_i[H + 1 + h]
  f_{i, h}`: each read head follows each write head's link backward or
  forward, or reads by content. The modes are backward per head, content,
  forward per head (the paper's order for `H = 1`, where this is
  `dnc_read_weights`; deepmind/dnc puts content last).

  Args:
    backward: `[H, R, N]` backward weights through each head's link.
    content: `[R, N]` content weights `c^r_t` of the read keys.
    forward: `[H, R, N]` forward weights through each head's link.
    read_modes: `[R, 2H + 1]` read modes `pi_t` (each row a softmax).

  Returns:
    `[R, N]` read weights `w^r_t`.
  """
  chex.assert_rank([backward, content, forward, read_modes], [3, 2, 3, 2])
  chex.assert_equal_shape([backward, forward])
  chex.assert_equal_shape_suffix([backward, content], 2)
  heads = backward.shape[0]
  chex.assert_shape(read_modes, (content.shape[0], 2 * heads + 1))
  if heads == 1:
    return dnc_read_weights(backward[0], content, forward[0], read_modes)
  return (jnp.einsum('rh,hrn->rn', read_modes[:, :heads], backward)
          + read_modes[:, heads, None] * content
          + jnp.einsum('rh,hrn->rn', read_modes[:, heads + 1:], forward))


# ----------------------------------------------------------------------------
# The sparse link matrix (Methods, "Sparse link matrix").


class SparseLink(NamedTuple):
  """A link matrix stored as `K` entries per row: `O(N K)`, never `N x N`.

  Row `i` holds `L[i, columns[i, k]] = values[i, k]`; every other entry of
  the row is zero. An entry with value 0 is empty (its column is
  meaningless), and the columns of a row's non-empty entries are distinct.
  Any leading batch axes come before `N`.

  Attributes:
    values: `[N, K]` the entries' values.
    columns: `[N, K]` int32, the entries' column indices.
  """

  values: Array
  columns: Array

  @staticmethod
  def empty(num_slots: int, k: int, dtype=jnp.float32) -> 'SparseLink':
    """The link `L_0 = 0`: `num_slots` rows of `k` empty entries."""
    return SparseLink(jnp.zeros((num_slots, k), dtype),
                      jnp.zeros((num_slots, k), jnp.int32))


def dnc_sparse_link_to_dense(link: SparseLink) -> Array:
  """`[N, N]` dense matrix of a `SparseLink` (for tests and plots)."""
  chex.assert_rank([link.values, link.columns], 2)
  n = link.values.shape[0]
  rows = jnp.broadcast_to(jnp.arange(n)[:, None], link.columns.shape)
  return jnp.zeros((n, n), link.values.dtype).at[rows, link.columns].add(
      link.values)


def _top_k(weights: Array, k: int) -> tuple[Array, Array]:
  """`(values [k], indices [k])` of the `k` largest weights, rescaled so
  that they keep the sum of all the weights; ties go to the lower index."""
  if k >= weights.shape[0]:
    return weights, jnp.arange(weights.shape[0])
  _, indices = jax.lax.top_k(jax.lax.stop_gradient(weights), k)
  values = weights[indices]
  kept = jnp.sum(values)
  scale = jnp.sum(weights) / jnp.where(kept > 0, kept, 1.0)
  return values * jnp.where(kept > 0, scale, 0.0), indices


def dnc_sparsify(weights: Array, *, k: int) -> Array:
  """Keeps the `k` largest of `[N]` weights, rescaled to the same sum.

  The sparse approximations `w^` and `p^` of the Methods' sparse link: all
  but the `k` largest values are set to zero and the kept ones are scaled
  so that the vector keeps its sum (so nothing changes when `k >= N`, and a
  full write, summing to 1, stays a distribution). Equal values: the lower
  index is kept. The gradient flows through the kept values.

  Args:
    weights: `[N]` non-negative weights (write weights or precedence).
    k: values kept, `>= 1` (`k >= N` keeps all).

  Returns:
    `[N]` the sparse weights.
  """
  chex.assert_rank(weights, 1)
  if k >= weights.shape[0]:
    return weights
  values, indices = _top_k(weights, int(k))
  return jnp.zeros_like(weights).at[indices].set(values)


def dnc_sparse_link(prev_link: SparseLink, prev_precedence: Array,
                    write_weights: Array) -> SparseLink:
  """The sparse link update, `O(N K^2)` time and `O(N K)` memory.

  With `w^ = dnc_sparsify(w, k=K)` and `p^ = dnc_sparsify(p_{t-1}, k=K)`:
  `L_t[i, j] = (1 - w^_i - w^_j) L_{t-1}[i, j] + w^_i p^_j`, zero on the
  diagonal, and, when `K < N`, every entry below `1 / K` set to zero. A
  row of `L` sums to at most 1, so at most `K` of its entries reach `1/K`:
  the `K` entries per row hold the thresholded matrix exactly. When
  `K >= N` nothing is approximated and the result equals `dnc_link`.

  Row `i`'s new entries can only sit in its previous `K` columns or in the
  `K` columns of `p^`: the update merges these `2K` candidates (summing
  repeated columns) and keeps the `K` largest.

  Args:
    prev_link: `SparseLink` `L_{t-1}` of `[N, K]` arrays.
    prev_precedence: `[N]` precedence `p_{t-1}` (before this write).
    write_weights: `[N]` write weights `w^w_t`.

  Returns:
    `SparseLink` `L_t` of `[N, K]` arrays.
  """
  chex.assert_rank([prev_link.values, prev_link.columns, prev_precedence,
                    write_weights], [2, 2, 1, 1])
  chex.assert_equal_shape([prev_link.values, prev_link.columns])
  chex.assert_equal_shape([prev_precedence, write_weights])
  chex.assert_equal_shape_prefix([prev_link.values, write_weights], 1)
  n, k = prev_link.values.shape
  kk = min(k, n)
  w = dnc_sparsify(write_weights, k=kk)
  p_values, p_columns = _top_k(prev_precedence, kk)
  # Candidates per row: the previous entries, decayed, then p^'s support.
  old = (1.0 - w[:, None] - w[prev_link.columns]) * prev_link.values
  new = w[:, None] * p_values[None, :]
  columns = jnp.concatenate(
      [prev_link.columns, jnp.broadcast_to(p_columns, (n, kk))], axis=1)
  values = jnp.concatenate([old, new], axis=1)
  # Merge repeated columns into their first occurrence.
  same = columns[:, :, None] == columns[:, None, :]
  merged = jnp.einsum('nij,nj->ni', same.astype(values.dtype), values)
  earlier = jnp.tril(jnp.ones((k + kk, k + kk), bool), -1)
  first = ~jnp.any(same & earlier[None], axis=2)
  diagonal = columns == jnp.arange(n)[:, None]
  merged = jnp.where(first & ~diagonal, merged, 0.0)
  values, position = jax.lax.top_k(merged, k)
  columns = jnp.take_along_axis(columns, jax.lax.stop_gradient(position),
                                axis=1)
  if k < n:
    values = jnp.where(values >= 1.0 / k, values, 0.0)
  return SparseLink(values, columns.astype(jnp.int32))


def dnc_sparse_directional_weights(link: SparseLink, prev_read_weights: Array
                                   ) -> tuple[Array, Array]:
  """`dnc_directional_weights` for a `SparseLink`, in `O(R N K)`.

  Args:
    link: `SparseLink` `L_t` of `[N, K]` arrays.
    prev_read_weights: `[R, N]` read weights `w^r_{t-1}`.

  Returns:
    `(forward [R, N], backward [R, N])`: `f_i = L w^r_i`, `b_i = L^T w^r_i`.
  """
  chex.assert_rank([link.values, link.columns, prev_read_weights], 2)
  chex.assert_equal_shape([link.values, link.columns])
  chex.assert_equal_shape_suffix([link.values[:, 0], prev_read_weights], 1)
  # forward[r, i] = sum_k values[i, k] * read[r, columns[i, k]].
  forward = jnp.einsum('nk,rnk->rn', link.values,
                       prev_read_weights[:, link.columns])
  # backward[r, j] = sum over entries (i, k) in column j of values * read[r, i].
  flow = (link.values[None] * prev_read_weights[:, :, None]).reshape(
      prev_read_weights.shape[0], -1)
  backward = jnp.zeros_like(prev_read_weights).at[
      :, link.columns.reshape(-1)].add(flow)
  return forward, backward
