"""Tests for `memax.ops.dnc` (Graves et al. 2016, Methods).

Each op against a NumPy reference written from the Methods' equations
(float64, explicit loops; the allocation's order by a repeated minimum
search, not a sort), under `jit` and `vmap` over a batch, with numerical
gradients, and on degenerate inputs (usages at 0 and 1, ties, free gates at
1) with finite values and gradients.
"""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np

from memax import ops
from memax.ops import dnc

_B = 3   # batch
_N = 6   # slots
_R = 2   # read heads


# --- NumPy references: one example, float64, from the equations. ---


def np_usage(prev_usage, prev_write, prev_reads, free_gates):
  out = np.zeros(prev_usage.shape[0])
  for n in range(prev_usage.shape[0]):
    psi = 1.0
    for i in range(prev_reads.shape[0]):
      psi *= 1.0 - free_gates[i] * prev_reads[i, n]
    u, w = prev_usage[n], prev_write[n]
    out[n] = (u + w - u * w) * psi
  return out


def np_free_list(usage):
  """phi: slots by ascending usage, ties to the lower index."""
  left = list(range(usage.shape[0]))
  phi = []
  while left:
    best = left[0]
    for s in left[1:]:
      if usage[s] < usage[best]:
        best = s
    phi.append(best)
    left.remove(best)
  return phi


def np_allocation(usage):
  phi = np_free_list(usage)
  out = np.zeros(usage.shape[0])
  for j, slot in enumerate(phi):
    prod = 1.0
    for i in range(j):
      prod *= usage[phi[i]]
    out[slot] = (1.0 - usage[slot]) * prod
  return out


def np_write_weights(allocation, content, g_a, g_w):
  return np.array([g_w * (g_a * allocation[n] + (1 - g_a) * content[n])
                   for n in range(allocation.shape[0])])


def np_precedence(prev, write):
  total = sum(write)
  return np.array([(1 - total) * prev[n] + write[n]
                   for n in range(prev.shape[0])])


def np_link(prev_link, prev_precedence, write):
  n = write.shape[0]
  out = np.zeros((n, n))
  for i in range(n):
    for j in range(n):
      if i != j:
        out[i, j] = ((1 - write[i] - write[j]) * prev_link[i, j]
                     + write[i] * prev_precedence[j])
  return out


def np_sparsify(w, k):
  """Keeps the k largest (ties: lower index), rescaled to the same sum."""
  n = w.shape[0]
  if k >= n:
    return w.copy()
  order = sorted(range(n), key=lambda i: (-w[i], i))[:k]
  out = np.zeros(n)
  kept = sum(w[i] for i in order)
  for i in order:
    out[i] = w[i] * (w.sum() / kept) if kept > 0 else 0.0
  return out


def np_sparse_link(prev_link, prev_precedence, write, k):
  """The Methods' sparse link on dense arrays: sparsify, update, threshold."""
  n = write.shape[0]
  out = np_link(prev_link, np_sparsify(prev_precedence, k),
                np_sparsify(write, k))
  if k < n:
    out[out < 1.0 / k] = 0.0
  return out


def np_directional(link, prev_reads):
  r, n = prev_reads.shape
  forward, backward = np.zeros((r, n)), np.zeros((r, n))
  for h in range(r):
    for i in range(n):
      for j in range(n):
        forward[h, i] += link[i, j] * prev_reads[h, j]
        backward[h, i] += link[j, i] * prev_reads[h, j]
  return forward, backward


def np_read_weights(backward, content, forward, modes):
  return (modes[:, :1] * backward + modes[:, 1:2] * content
          + modes[:, 2:] * forward)


def _simplex(rng, shape, total=1.0):
  x = rng.uniform(size=shape)
  return total * x / x.sum(-1, keepdims=True)


def _example(rng):
  """Random arguments of one DNC step, in float64."""
  link = rng.uniform(size=(_N, _N)) / _N
  np.fill_diagonal(link, 0.0)
  return dict(
      usage=rng.uniform(size=_N), write=_simplex(rng, _N, 0.8),
      reads=_simplex(rng, (_R, _N)), free=rng.uniform(size=_R),
      content=_simplex(rng, _N), g_a=rng.uniform(), g_w=rng.uniform(),
      precedence=_simplex(rng, _N, 0.7), link=link,
      read_content=_simplex(rng, (_R, _N)),
      modes=_simplex(rng, (_R, 3)))


@functools.cache
def _jit_grads(fn, num_args):
  """`fn`'s gradients of `sum(fn(*args) ** 2)`, jitted once per `fn`."""
  return jax.jit(jax.grad(lambda *a: jnp.sum(fn(*a) ** 2),
                          argnums=tuple(range(num_args))))


def _grads_finite(fn, *args):
  grads = _jit_grads(fn, len(args))(*args)
  return all(bool(np.all(np.isfinite(np.asarray(g)))) for g in grads)


@functools.cache
def _jit_vmap(fn):
  """`jit(vmap(fn))`, one per op: each shape compiles once per session."""
  return jax.jit(jax.vmap(fn))


# The ops jitted once for the tests of single examples (one compilation per
# shape instead of one per primitive, as eager calls would).
_allocation = jax.jit(dnc.dnc_allocation)
_usage = jax.jit(dnc.dnc_usage)


class ReferenceTest(parameterized.TestCase):
  """Each op, batched under jit, against its reference."""

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(0)
    self.examples = [_example(rng) for _ in range(_B)]

  def batch(self, key):
    return np.float32(np.stack([e[key] for e in self.examples]))

  def check(self, got, want_fn):
    got = np.asarray(got)  # indexed on the host: nothing to compile.
    for b, e in enumerate(self.examples):
      np.testing.assert_allclose(got[b], want_fn(e), rtol=1e-5, atol=1e-6)

  def test_usage(self):
    got = _jit_vmap(dnc.dnc_usage)(
        self.batch('usage'), self.batch('write'), self.batch('reads'),
        self.batch('free'))
    self.check(got, lambda e: np_usage(e['usage'], e['write'], e['reads'],
                                       e['free']))

  def test_allocation(self):
    got = _jit_vmap(dnc.dnc_allocation)(self.batch('usage'))
    self.check(got, lambda e: np_allocation(e['usage']))

  def test_write_weights(self):
    got = _jit_vmap(dnc.dnc_write_weights)(
        self.batch('usage'), self.batch('content'), self.batch('g_a'),
        self.batch('g_w'))
    self.check(got, lambda e: np_write_weights(e['usage'], e['content'],
                                               e['g_a'], e['g_w']))

  def test_precedence(self):
    got = _jit_vmap(dnc.dnc_precedence)(self.batch('precedence'),
                                        self.batch('write'))
    self.check(got, lambda e: np_precedence(e['precedence'], e['write']))

  def test_link(self):
    got = _jit_vmap(dnc.dnc_link)(
        self.batch('link'), self.batch('precedence'), self.batch('write'))
    self.check(got, lambda e: np_link(e['link'], e['precedence'],
                                      e['write']))

  def test_directional_weights(self):
    forward, backward = _jit_vmap(dnc.dnc_directional_weights)(
        self.batch('link'), self.batch('reads'))
    self.check(forward, lambda e: np_directional(e['link'], e['reads'])[0])
    self.check(backward, lambda e: np_directional(e['link'], e['reads'])[1])

  def test_link_and_directional(self):
    link, forward, backward = _jit_vmap(dnc.dnc_link_and_directional)(
        self.batch('link'), self.batch('precedence'), self.batch('write'),
        self.batch('reads'))

    def want(e):
      new = np_link(e['link'], e['precedence'], e['write'])
      return (new,) + np_directional(new, e['reads'])

    self.check(link, lambda e: want(e)[0])
    self.check(forward, lambda e: want(e)[1])
    self.check(backward, lambda e: want(e)[2])

  def test_read_weights(self):
    f, b = _jit_vmap(dnc.dnc_directional_weights)(self.batch('link'),
                                                  self.batch('reads'))
    got = _jit_vmap(dnc.dnc_read_weights)(
        b, self.batch('read_content'), f, self.batch('modes'))

    def want(e):
      forward, backward = np_directional(e['link'], e['reads'])
      return np_read_weights(backward, e['read_content'], forward,
                             e['modes'])

    self.check(got, want)

  def test_exported(self):
    for name in ('dnc_usage', 'dnc_allocation', 'dnc_write_weights',
                 'dnc_precedence', 'dnc_link', 'dnc_directional_weights',
                 'dnc_link_and_directional',
                 'dnc_read_weights', 'dnc_sparsify', 'dnc_sparse_link',
                 'dnc_sparse_link_to_dense',
                 'dnc_sparse_directional_weights', 'SparseLink',
                 'dnc_multi_usage', 'dnc_multi_allocation',
                 'dnc_multi_read_weights'):
      self.assertIs(getattr(ops, name), getattr(dnc, name))


class PropertiesTest(parameterized.TestCase):

  def test_allocation_goes_to_the_least_used_slot(self):
    usage = np.float32([0.9, 0.2, 1.0, 0.5])
    a = np.asarray(_allocation(usage))
    self.assertEqual(int(np.argmax(a)), 1)
    self.assertLessEqual(float(a.sum()), 1.0 + 1e-6)
    np.testing.assert_allclose(a[1], 0.8, rtol=1e-6)   # 1 - u
    np.testing.assert_allclose(a[3], 0.5 * 0.2, rtol=1e-6)

  def test_allocation_ties_go_to_the_lower_index(self):
    a = np.asarray(_allocation(np.float32([0.5, 0.3, 0.3, 0.3])))
    np.testing.assert_allclose(a, np_allocation(np.float64(
        [0.5, 0.3, 0.3, 0.3])), rtol=1e-6)
    self.assertGreater(a[1], a[2])
    self.assertGreater(a[2], a[3])

  @parameterized.parameters(0.0, 1.0)
  def test_allocation_at_constant_usage(self, value):
    usage = np.full((_N,), value, np.float32)
    a = np.asarray(_allocation(usage))
    want = np.zeros(_N)
    want[0] = 1.0 - value   # all free: everything to slot 0; all used: 0
    np.testing.assert_allclose(a, want, atol=1e-7)
    self.assertTrue(_grads_finite(dnc.dnc_allocation, usage))

  def test_allocation_gradient_flows_through_the_sorted_values(self):
    with jax.enable_x64():
      usage = np.float64([0.9, 0.2, 0.7, 0.5])
      chex.assert_numerical_grads(_allocation, (usage,), order=1)
      # d a[3] / d u[1]: slot 3 comes second, after slot 1.
      jac = np.asarray(jax.jit(jax.jacobian(dnc.dnc_allocation))(usage))
      np.testing.assert_allclose(jac[3, 1], 1 - 0.5, rtol=1e-12)

  def test_usage_frees_what_was_read_with_free_gate_one(self):
    reads = np.float32([[0.0, 1.0, 0.0]])
    args = (np.float32([0.5, 0.9, 0.3]), np.zeros(3, np.float32), reads,
            np.float32([1.0]))
    u = _usage(*args)
    np.testing.assert_allclose(u, [0.5, 0.0, 0.3], atol=1e-7)
    self.assertTrue(_grads_finite(dnc.dnc_usage, *args))

  def test_usage_stays_in_unit_interval(self):
    rng = np.random.default_rng(3)
    for _ in range(5):
      e = _example(rng)
      u = np.asarray(_usage(np.float32(e['usage']), np.float32(e['write']),
                            np.float32(e['reads']), np.float32(e['free'])))
      self.assertTrue(bool(np.all((u >= 0) & (u <= 1))))

  def test_link_diagonal_is_zero_and_follows_writes(self):
    # Write slot 2, then slot 0: L[0, 2] = 1 (0 was written after 2).
    n = 4

    @jax.jit
    def run(writes, reads):
      link, prec = jnp.zeros((n, n)), jnp.zeros(n)
      for w in writes:
        link = dnc.dnc_link(link, prec, w)
        prec = dnc.dnc_precedence(prec, w)
      return link, dnc.dnc_directional_weights(link, reads)

    one_hot = np.eye(n, dtype=np.float32)
    link, (forward, backward) = jax.device_get(
        run([one_hot[2], one_hot[0]], one_hot[2][None]))
    np.testing.assert_allclose(np.diag(link), 0.0)
    np.testing.assert_allclose(link[0, 2], 1.0)
    self.assertEqual(float(np.abs(link).sum()), 1.0)
    np.testing.assert_allclose(forward[0], one_hot[0])
    np.testing.assert_allclose(backward[0], np.zeros(n))

  def test_numerical_gradients(self):
    rng = np.random.default_rng(5)
    e = _example(rng)
    with jax.enable_x64():
      # NumPy arguments: check_grads perturbs them with NumPy, not eager ops.
      f = lambda k: np.float64(e[k])
      cases = [
          (dnc.dnc_usage, (f('usage'), f('write'), f('reads'), f('free'))),
          (dnc.dnc_write_weights, (f('usage'), f('content'), f('g_a'),
                                   f('g_w'))),
          (dnc.dnc_precedence, (f('precedence'), f('write'))),
          (dnc.dnc_link, (f('link'), f('precedence'), f('write'))),
          (lambda l, r: jnp.concatenate(dnc.dnc_directional_weights(l, r)),
           (f('link'), f('reads'))),
          (dnc.dnc_read_weights, (f('reads'), f('read_content'), f('reads'),
                                  f('modes'))),
      ]
      for fn, args in cases:
        # Jitted: each of f, its jvp and vjp compiles once, not per op.
        chex.assert_numerical_grads(jax.jit(fn), args, order=1)

  def test_shape_errors(self):
    # NumPy arguments: the shape checks come first, nothing is compiled.
    with self.assertRaises(AssertionError):
      dnc.dnc_link(np.zeros((3, 4)), np.zeros(3), np.zeros(3))
    with self.assertRaises(AssertionError):
      dnc.dnc_read_weights(np.zeros((2, 4)), np.zeros((2, 4)),
                           np.zeros((2, 4)), np.zeros((2, 2)))
    with self.assertRaises(AssertionError):
      dnc.dnc_usage(np.zeros(4), np.zeros(4), np.zeros((2, 4)),
                    np.zeros(3))


def _separate_link_and_directional(prev_link, prev_precedence,
                                   write_weights, prev_read_weights):
  link = dnc.dnc_link(prev_link, prev_precedence, write_weights)
  return (link,) + dnc.dnc_directional_weights(link, prev_read_weights)


def _memory_free_dnc(link_fn, carry, xs, link_target):
  """A DNC's weightings without the memory, batched, scanned over time:
  usage, allocation, write weights, link (`link_fn`), precedence, reads.
  Returns the loss `sum(reads * xs['target']) + sum(last link *
  link_target)`, whose gradient flows through every step's link."""

  def step(carry, x):
    link, precedence, reads, usage, write = carry
    usage = dnc.dnc_usage(usage, write, reads, x['free'])
    write = dnc.dnc_write_weights(dnc.dnc_allocation(usage), x['content'],
                                  x['g_a'], x['g_w'])
    link, forward, backward = link_fn(link, precedence, write, reads)
    precedence = dnc.dnc_precedence(precedence, write)
    reads = dnc.dnc_read_weights(backward, x['read_content'], forward,
                                 x['modes'])
    return (link, precedence, reads, usage, write), reads

  (link, *_), reads = jax.lax.scan(jax.vmap(step), carry, xs)
  return jnp.sum(reads * xs['target']) + jnp.sum(link * link_target)


def _link_case(name, steps=5, batch=2, n=_N):
  """`(carry, xs, link_target)` of `_memory_free_dnc`, float64 (under
  `enable_x64`), batch first in the carry and time first in `xs`; `name`
  picks the degenerate case."""
  rng = np.random.default_rng(7)
  shape = (steps, batch)
  xs = dict(free=rng.uniform(size=shape + (_R,)),
            content=_simplex(rng, shape + (n,)),
            g_a=rng.uniform(size=shape), g_w=rng.uniform(size=shape),
            read_content=_simplex(rng, shape + (_R, n)),
            modes=_simplex(rng, shape + (_R, 3)),
            target=rng.normal(size=shape + (_R, n)))
  link_target = rng.normal(size=(batch, n, n))
  # A diagonal in the first link too: the op must ignore it.
  carry = (rng.uniform(size=(batch, n, n)) / n,
           _simplex(rng, (batch, n), 0.7), _simplex(rng, (batch, _R, n)),
           rng.uniform(size=(batch, n)), _simplex(rng, (batch, n), 0.8))
  if name == 'empty_memory_and_free_gates_at_one':
    # All slots free, every read released: full writes by allocation,
    # summing to 1, into a zero link.
    carry = tuple(np.zeros_like(c) for c in carry)
    xs.update(free=np.ones(shape + (_R,)), g_a=np.ones(shape),
              g_w=np.ones(shape))
  elif name == 'content_writes_summing_to_one':
    # One-hot writes, then halves on two slots (1 - w_i - w_j = 0).
    content = np.zeros(shape + (n,))
    content[..., 0] = 1.0
    content[2:, :, 1] = content[2:, :, 3] = 0.5
    content[2:, :, 0] = 0.0
    carry = (np.zeros((batch, n, n)),) + carry[1:]
    xs.update(content=content, g_a=np.zeros(shape), g_w=np.ones(shape))
  return jax.tree.map(np.float64, (carry, xs, link_target))


@functools.cache
def _both_value_and_grads(argnums):
  """One jitted program: `value_and_grad` of `_memory_free_dnc` (over
  `argnums`) with the fused op and with the two separate ops. Cached: the
  cases of one shape and dtype compile it once."""

  def both(*args):
    return tuple(
        jax.value_and_grad(functools.partial(_memory_free_dnc, link_fn),
                           argnums=argnums)(*args)
        for link_fn in (dnc.dnc_link_and_directional,
                        _separate_link_and_directional))

  return jax.jit(both)


class LinkAndDirectionalTest(parameterized.TestCase):
  """The fused op and its hand-written gradient against the two ops."""

  @parameterized.parameters('random', 'empty_memory_and_free_gates_at_one',
                            'content_writes_summing_to_one')
  def test_equals_the_separate_ops_through_a_scan(self, name):
    with jax.enable_x64():
      args = _link_case(name)
      (value, grads), (want_value, want_grads) = _both_value_and_grads(
          (0, 1, 2))(*args)
      np.testing.assert_allclose(value, want_value, rtol=1e-12)
      chex.assert_trees_all_close(grads, want_grads, rtol=1e-10, atol=1e-12)
      for g in jax.tree.leaves(grads):
        self.assertTrue(bool(np.all(np.isfinite(np.asarray(g)))))

  def test_numerical_gradients(self):
    rng = np.random.default_rng(8)
    e = _example(rng)
    with jax.enable_x64():
      link = np.float64(e['link'] + np.diag(rng.uniform(size=_N)))
      chex.assert_numerical_grads(
          jax.jit(lambda *a: jnp.concatenate(
              [x.reshape(-1) for x in dnc.dnc_link_and_directional(*a)])),
          (link, np.float64(e['precedence']), np.float64(e['write']),
           np.float64(e['reads'])), order=1, modes=('rev',))

  def test_float32_matches_the_separate_ops(self):
    with jax.enable_x64():
      args = jax.tree.map(np.float32, _link_case('random', n=32))
    # The gradients with respect to the first two arguments.
    grads = [g for _, g in _both_value_and_grads((0, 1))(*args)]
    chex.assert_trees_all_close(*grads, rtol=1e-4, atol=1e-6)

  def test_a_scan_saves_one_link_per_step(self):
    steps, n = 5, 9
    with jax.enable_x64():
      args = jax.tree.map(np.float32, _link_case('random', steps=steps, n=n))

    def saved(link_fn):
      """The shapes of the scan's `[T, B, N, N]` residuals (traced, as
      under a jitted train step: shapes only, nothing to compile)."""
      vjp = jax.eval_shape(lambda *a: jax.vjp(
          functools.partial(_memory_free_dnc, link_fn), *a)[1], *args)
      return [r.shape for r in jax.tree.leaves(vjp)
              if r.shape[:1] == (steps,) and r.shape[2:] == (n, n)]

    self.assertEqual(saved(dnc.dnc_link_and_directional),
                     [(steps, 2, n, n)])
    # The check can fail: autodiff of the two ops saves several.
    self.assertGreater(len(saved(_separate_link_and_directional)), 1)

  def test_shape_errors(self):
    with self.assertRaises(AssertionError):
      dnc.dnc_link_and_directional(np.zeros((4, 4)), np.zeros(4),
                                   np.zeros(4), np.zeros((2, 5)))
    with self.assertRaises(AssertionError):
      dnc.dnc_link_and_directional(np.zeros((4, 4)), np.zeros(4),
                                   np.zeros(4), np.zeros(4))


def _sharp_writes(rng, steps, n, total=0.9):
  """Write weights focused on a few slots (as after training), each a
  distribution of mass `total` over the slots."""
  out = []
  for _ in range(steps):
    logits = 8.0 * rng.normal(size=n)
    w = np.exp(logits - logits.max())
    out.append(total * w / w.sum())
  return out


def _nxn_intermediates(fn, *args):
  """Shapes in `fn`'s jaxpr with two axes of the slot count `N`."""
  n = args[1].shape[0]
  found = []

  def visit(jaxpr):
    for eqn in jaxpr.eqns:
      for v in eqn.outvars:
        if sum(d == n for d in getattr(v.aval, 'shape', ())) >= 2:
          found.append(v.aval.shape)
      for sub in jax.extend.core.jaxprs_in_params(eqn.params):
        visit(sub)

  visit(jax.make_jaxpr(fn)(*args).jaxpr)
  return found


@jax.jit
def _sparse_step(link, prec, w):
  """A sparse link step, the precedence after it and the dense new link."""
  link = dnc.dnc_sparse_link(link, prec, w)
  return link, dnc.dnc_precedence(prec, w), dnc.dnc_sparse_link_to_dense(link)


@jax.jit
def _sparse_and_dense_step(link, dense, prec, w):
  """A step of the sparse and the dense link from the same precedence."""
  link = dnc.dnc_sparse_link(link, prec, w)
  return (link, dnc.dnc_link(dense, prec, w), dnc.dnc_precedence(prec, w),
          dnc.dnc_sparse_link_to_dense(link))


def _empty_link(n, k, dtype=jnp.float32):
  """`SparseLink.empty(n, k, dtype)` as NumPy zeros (its shapes and dtypes,
  all zeros): an argument of a jitted step with nothing to compile."""
  shapes = jax.eval_shape(functools.partial(dnc.SparseLink.empty, n, k,
                                            dtype))
  return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)


class SparseLinkTest(parameterized.TestCase):
  """The sparse link (Methods, "Sparse link matrix") against the dense
  equations with top-K sparsification and the 1/K threshold."""

  def run_steps(self, n, k, steps, seed=0):
    rng = np.random.default_rng(seed)
    writes = _sharp_writes(rng, steps, n)
    link = _empty_link(n, k, jnp.float64)
    prec = np.zeros(n)
    want, want_prec = np.zeros((n, n)), np.zeros(n)
    for w in writes:
      # One compiled step per (n, k): the link, the precedence and the
      # dense view of the link.
      link, prec, got = _sparse_step(link, prec, np.float64(w))
      want = np_sparse_link(want, want_prec, w, k)
      want_prec = np_precedence(want_prec, w)
      np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    return link, want

  def test_sparsify(self):
    w = np.float64([0.1, 0.3, 0.05, 0.3, 0.2])
    with jax.enable_x64():
      # One program for the three k; called again on zeros.
      sparsify = jax.jit(lambda x: tuple(
          dnc.dnc_sparsify(x, k=k) for k in (2, 3, 5)))
      got2, got3, got5 = sparsify(w)
      np.testing.assert_allclose(got2, np_sparsify(w, 2), rtol=1e-12)
      np.testing.assert_allclose(got2, [0, 0.475, 0, 0.475, 0], rtol=1e-12)
      # k = 3: a tie at 0.3 kept both.
      np.testing.assert_allclose(got3, np_sparsify(w, 3), rtol=1e-12)
      np.testing.assert_allclose(got5, w)
      np.testing.assert_allclose(sparsify(np.zeros(5))[0], 0.0)

  @parameterized.parameters((10, 3), (12, 4), (16, 8))
  def test_matches_the_dense_reference(self, n, k):
    with jax.enable_x64():
      _, want = self.run_steps(n, k, steps=8)
    # The threshold left some links, and at most K per row.
    self.assertGreater(np.count_nonzero(want), 0)
    self.assertLessEqual(int((want > 0).sum(1).max()), k)

  @parameterized.parameters(0, 2)
  def test_equals_the_dense_link_when_k_covers_memory(self, extra):
    n = 7
    rng = np.random.default_rng(1)
    with jax.enable_x64():
      link = _empty_link(n, n + extra, jnp.float64)
      dense, prec = np.zeros((n, n)), np.zeros(n)
      for _ in range(6):
        w = np.float64(_simplex(rng, n, 0.8))   # diffuse: no entry is tiny
        link, dense, prec, got = _sparse_and_dense_step(link, dense, prec, w)
      np.testing.assert_allclose(got, dense, rtol=1e-12, atol=1e-15)

  def test_directional_weights_match_the_dense_ones(self):
    n, k = 10, 3
    with jax.enable_x64():
      link, dense = self.run_steps(n, k, steps=6, seed=2)
      reads = np.float64(_simplex(np.random.default_rng(3), (_R, n)))
      forward, backward = jax.jit(dnc.dnc_sparse_directional_weights)(
          link, reads)
      want_f, want_b = np_directional(dense, reads)
      np.testing.assert_allclose(forward, want_f, rtol=1e-10, atol=1e-12)
      np.testing.assert_allclose(backward, want_b, rtol=1e-10, atol=1e-12)

  def test_follows_writes_and_batches(self):
    # Slots 5, 2, 7 written in turn (K = 2 < N = 9): forward from 5 -> 2.
    n, k = 9, 2

    @jax.jit
    def run(writes, reads):
      link = dnc.SparseLink.empty(n, k)
      link = jax.tree.map(lambda a: jnp.stack([a, a]), link)  # batch of 2
      prec = jnp.zeros((2, n))
      for w in writes:
        link = jax.vmap(dnc.dnc_sparse_link)(link, prec, w)
        prec = jax.vmap(dnc.dnc_precedence)(prec, w)
      return link, jax.vmap(dnc.dnc_sparse_directional_weights)(link, reads)

    one_hot = np.eye(n, dtype=np.float32)
    writes = [np.stack([one_hot[slot], np.zeros(n, np.float32)])
              for slot in (5, 2, 7)]
    reads = np.stack([one_hot[5][None]] * 2)
    link, (forward, backward) = jax.device_get(run(writes, reads))
    np.testing.assert_allclose(forward[0, 0], one_hot[2])
    np.testing.assert_allclose(backward[0, 0], np.zeros(n))
    np.testing.assert_allclose(forward[1], 0.0)   # nothing written
    np.testing.assert_allclose(link.values[1], 0.0)

  def test_gradients(self):
    n = 6
    rng = np.random.default_rng(4)
    with jax.enable_x64():
      # K >= N: the update is smooth; numerical gradients through all of it.
      prev = jax.device_get(jax.jit(dnc.dnc_sparse_link)(
          _empty_link(n, n, jnp.float64), np.float64(_simplex(rng, n, 0.5)),
          np.float64(_simplex(rng, n, 0.8))))
      reads = np.float64(_simplex(rng, (_R, n)))

      @jax.jit  # f, its jvp and its vjp each compile once, not per op.
      def through(values, prec, w, r):
        link = dnc.dnc_sparse_link(dnc.SparseLink(values, prev.columns),
                                   prec, w)
        return jnp.concatenate(dnc.dnc_sparse_directional_weights(link, r))

      chex.assert_numerical_grads(
          through, (prev.values, np.float64(_simplex(rng, n, 0.7)),
                    np.float64(_simplex(rng, n, 0.8)), reads), order=1)
      # K < N with every weight at zero (the first step): finite.
      zero = _empty_link(n, 2, jnp.float64)
      self.assertTrue(_grads_finite(
          lambda v, p, w: dnc.dnc_sparse_link(
              dnc.SparseLink(v, zero.columns), p, w).values,
          zero.values, np.zeros(n), np.zeros(n)))

  def test_never_builds_an_n_by_n_array(self):
    # Shapes only (`make_jaxpr` of abstract arguments): nothing to compile.
    n, k = 512, 8
    link = jax.eval_shape(lambda: dnc.SparseLink.empty(n, k))
    w = jax.ShapeDtypeStruct((n,), jnp.float32)
    self.assertEqual(_nxn_intermediates(dnc.dnc_sparse_link, link, w, w), [])
    self.assertEqual(_nxn_intermediates(
        lambda l, r: dnc.dnc_sparse_directional_weights(l, r),
        link, jax.ShapeDtypeStruct((_R, n), jnp.float32)), [])
    # The check can fail: the dense link does build one.
    self.assertNotEqual(_nxn_intermediates(
        dnc.dnc_link, jax.ShapeDtypeStruct((n, n), jnp.float32), w, w), [])



# --- Several write heads (deepmind/dnc's `num_writes`). ---


def np_multi_usage(prev_usage, prev_writes, prev_reads, free_gates):
  """The heads' writes as one: the chance that any head wrote a slot."""
  written = np.array([1.0 - np.prod([1.0 - prev_writes[h, n]
                                     for h in range(prev_writes.shape[0])])
                      for n in range(prev_usage.shape[0])])
  return np_usage(prev_usage, written, prev_reads, free_gates)


def np_multi_allocation(usage, gates):
  """Head h allocates on the usage raised by the heads before it."""
  out, usage = [], usage.copy()
  for h in range(gates.shape[0]):
    a = np_allocation(usage)
    out.append(a)
    usage = usage + (1.0 - usage) * gates[h] * a
  return np.stack(out)


def np_multi_read_weights(backward, content, forward, modes):
  heads, r, n = backward.shape
  out = np.zeros((r, n))
  for i in range(r):
    for s in range(n):
      out[i, s] = modes[i, heads] * content[i, s]
      for h in range(heads):
        out[i, s] += (modes[i, h] * backward[h, i, s]
                      + modes[i, heads + 1 + h] * forward[h, i, s])
  return out


_H = 3  # write heads


def _multi_example(rng, heads=_H):
  return dict(
      usage=rng.uniform(size=_N), writes=_simplex(rng, (heads, _N), 0.8),
      reads=_simplex(rng, (_R, _N)), free=rng.uniform(size=_R),
      gates=rng.uniform(size=heads),
      backward=_simplex(rng, (heads, _R, _N)),
      forward=_simplex(rng, (heads, _R, _N)),
      content=_simplex(rng, (_R, _N)),
      modes=_simplex(rng, (_R, 2 * heads + 1)))


_MULTI = {
    'usage': (dnc.dnc_multi_usage, np_multi_usage,
              ('usage', 'writes', 'reads', 'free')),
    'allocation': (dnc.dnc_multi_allocation, np_multi_allocation,
                   ('usage', 'gates')),
    'read_weights': (dnc.dnc_multi_read_weights, np_multi_read_weights,
                     ('backward', 'content', 'forward', 'modes')),
}


class MultiHeadTest(parameterized.TestCase):
  """The ops that combine several write heads."""

  @parameterized.named_parameters(*((k, k) for k in _MULTI))
  def test_against_the_reference(self, name):
    fn, reference, keys = _MULTI[name]
    rng = np.random.default_rng(7)
    examples = [_multi_example(rng) for _ in range(_B)]
    got = np.asarray(_jit_vmap(fn)(
        *[np.float32(np.stack([e[k] for e in examples])) for k in keys]))
    for b, e in enumerate(examples):
      np.testing.assert_allclose(got[b], reference(*[e[k] for k in keys]),
                                 rtol=1e-5, atol=1e-6)

  def test_one_head_is_the_paper_op(self):
    e = _multi_example(np.random.default_rng(8), heads=1)
    f = lambda k: np.float32(e[k])
    np.testing.assert_array_equal(
        jax.jit(dnc.dnc_multi_usage)(f('usage'), f('writes'), f('reads'),
                                     f('free')),
        _usage(f('usage'), f('writes')[0], f('reads'), f('free')))
    np.testing.assert_array_equal(
        jax.jit(dnc.dnc_multi_allocation)(f('usage'), f('gates')),
        _allocation(f('usage'))[None])
    np.testing.assert_array_equal(
        jax.jit(dnc.dnc_multi_read_weights)(f('backward'), f('content'),
                                            f('forward'), f('modes')),
        jax.jit(dnc.dnc_read_weights)(f('backward')[0], f('content'),
                                      f('forward')[0], f('modes')))

  def test_heads_that_allocate_take_different_free_slots(self):
    # All slots free, both heads allocating fully: head 0 takes slot 0 and
    # head 1 the next one; with head 0 not writing, both would take slot 0.
    usage = np.zeros(4, np.float32)
    a = np.asarray(jax.jit(dnc.dnc_multi_allocation)(
        usage, np.float32([1.0, 1.0])))
    np.testing.assert_allclose(a, np.eye(4)[:2], atol=1e-7)
    a = np.asarray(jax.jit(dnc.dnc_multi_allocation)(
        usage, np.float32([0.0, 1.0])))
    np.testing.assert_allclose(a, np.eye(4)[[0, 0]], atol=1e-7)

  def test_degenerate_inputs_are_finite(self):
    # Usages at 0 and 1 and tied, writes and gates at 1, free gates at 1.
    n = 5
    for value in (0.0, 1.0):
      usage = np.full((n,), value, np.float32)
      writes = np.float32(np.eye(n)[[0, 0]])
      reads = np.float32(np.eye(n)[[0, 1]])
      args = (usage, writes, reads, np.ones(2, np.float32))
      u = np.asarray(jax.jit(dnc.dnc_multi_usage)(*args))
      self.assertTrue(bool(np.all((u >= 0) & (u <= 1))))
      self.assertTrue(_grads_finite(dnc.dnc_multi_usage, *args))
      gates = np.ones(2, np.float32)
      self.assertTrue(np.all(np.isfinite(np.asarray(
          jax.jit(dnc.dnc_multi_allocation)(usage, gates)))))
      self.assertTrue(_grads_finite(dnc.dnc_multi_allocation, usage, gates))
    zeros = np.zeros((2, _R, n), np.float32)
    modes = np.full((_R, 5), 0.2, np.float32)
    self.assertTrue(_grads_finite(dnc.dnc_multi_read_weights, zeros,
                                  zeros[0], zeros, modes))

  def test_numerical_gradients(self):
    e = _multi_example(np.random.default_rng(9), heads=2)
    with jax.enable_x64():
      for fn, _, keys in _MULTI.values():
        chex.assert_numerical_grads(
            jax.jit(fn), tuple(np.float64(e[k]) for k in keys), order=1)

  def test_shape_errors(self):
    with self.assertRaises(AssertionError):  # modes for 1 head, 2 heads
      dnc.dnc_multi_read_weights(np.zeros((2, 2, 4)), np.zeros((2, 4)),
                                 np.zeros((2, 2, 4)), np.zeros((2, 3)))
    with self.assertRaises(AssertionError):  # writes without a head axis
      dnc.dnc_multi_usage(np.zeros(4), np.zeros(4), np.zeros((2, 4)),
                          np.zeros(2))
    with self.assertRaises(AssertionError):
      dnc.dnc_multi_allocation(np.zeros(4), np.zeros((2, 1)))

if __name__ == '__main__':
  absltest.main()
