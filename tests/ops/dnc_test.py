"""Tests for `memax.ops.dnc` (Graves et al. 2016, Methods).

Each op against a NumPy reference written from the Methods' equations
(float64, explicit loops; the allocation's order by a repeated minimum
search, not a sort), under `jit` and `vmap` over a batch, with numerical
gradients, and on degenerate inputs (usages at 0 and 1, ties, free gates at
1) with finite values and gradients.
"""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
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


def _grads_finite(fn, *args):
  grads = jax.grad(lambda *a: jnp.sum(fn(*a) ** 2),
                   argnums=tuple(range(len(args))))(*args)
  return all(bool(jnp.all(jnp.isfinite(g))) for g in grads)


class ReferenceTest(parameterized.TestCase):
  """Each op, batched under jit, against its reference."""

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(0)
    self.examples = [_example(rng) for _ in range(_B)]

  def batch(self, key):
    return jnp.float32(np.stack([e[key] for e in self.examples]))

  def check(self, got, want_fn):
    for b, e in enumerate(self.examples):
      np.testing.assert_allclose(got[b], want_fn(e), rtol=1e-5, atol=1e-6)

  def test_usage(self):
    got = jax.jit(jax.vmap(dnc.dnc_usage))(
        self.batch('usage'), self.batch('write'), self.batch('reads'),
        self.batch('free'))
    self.check(got, lambda e: np_usage(e['usage'], e['write'], e['reads'],
                                       e['free']))

  def test_allocation(self):
    got = jax.jit(jax.vmap(dnc.dnc_allocation))(self.batch('usage'))
    self.check(got, lambda e: np_allocation(e['usage']))

  def test_write_weights(self):
    got = jax.jit(jax.vmap(dnc.dnc_write_weights))(
        self.batch('usage'), self.batch('content'), self.batch('g_a'),
        self.batch('g_w'))
    self.check(got, lambda e: np_write_weights(e['usage'], e['content'],
                                               e['g_a'], e['g_w']))

  def test_precedence(self):
    got = jax.jit(jax.vmap(dnc.dnc_precedence))(self.batch('precedence'),
                                                self.batch('write'))
    self.check(got, lambda e: np_precedence(e['precedence'], e['write']))

  def test_link(self):
    got = jax.jit(jax.vmap(dnc.dnc_link))(
        self.batch('link'), self.batch('precedence'), self.batch('write'))
    self.check(got, lambda e: np_link(e['link'], e['precedence'],
                                      e['write']))

  def test_directional_weights(self):
    forward, backward = jax.jit(jax.vmap(dnc.dnc_directional_weights))(
        self.batch('link'), self.batch('reads'))
    self.check(forward, lambda e: np_directional(e['link'], e['reads'])[0])
    self.check(backward, lambda e: np_directional(e['link'], e['reads'])[1])

  def test_read_weights(self):
    f, b = jax.vmap(dnc.dnc_directional_weights)(self.batch('link'),
                                                 self.batch('reads'))
    got = jax.jit(jax.vmap(dnc.dnc_read_weights))(
        b, self.batch('read_content'), f, self.batch('modes'))

    def want(e):
      forward, backward = np_directional(e['link'], e['reads'])
      return np_read_weights(backward, e['read_content'], forward,
                             e['modes'])

    self.check(got, want)

  def test_exported(self):
    for name in ('dnc_usage', 'dnc_allocation', 'dnc_write_weights',
                 'dnc_precedence', 'dnc_link', 'dnc_directional_weights',
                 'dnc_read_weights'):
      self.assertIs(getattr(ops, name), getattr(dnc, name))


class PropertiesTest(parameterized.TestCase):

  def test_allocation_goes_to_the_least_used_slot(self):
    usage = jnp.float32([0.9, 0.2, 1.0, 0.5])
    a = np.asarray(dnc.dnc_allocation(usage))
    self.assertEqual(int(np.argmax(a)), 1)
    self.assertLessEqual(float(a.sum()), 1.0 + 1e-6)
    np.testing.assert_allclose(a[1], 0.8, rtol=1e-6)   # 1 - u
    np.testing.assert_allclose(a[3], 0.5 * 0.2, rtol=1e-6)

  def test_allocation_ties_go_to_the_lower_index(self):
    a = np.asarray(dnc.dnc_allocation(jnp.float32([0.5, 0.3, 0.3, 0.3])))
    np.testing.assert_allclose(a, np_allocation(np.float64(
        [0.5, 0.3, 0.3, 0.3])), rtol=1e-6)
    self.assertGreater(a[1], a[2])
    self.assertGreater(a[2], a[3])

  @parameterized.parameters(0.0, 1.0)
  def test_allocation_at_constant_usage(self, value):
    usage = jnp.full((_N,), value, jnp.float32)
    a = np.asarray(dnc.dnc_allocation(usage))
    want = np.zeros(_N)
    want[0] = 1.0 - value   # all free: everything to slot 0; all used: 0
    np.testing.assert_allclose(a, want, atol=1e-7)
    self.assertTrue(_grads_finite(dnc.dnc_allocation, usage))

  def test_allocation_gradient_flows_through_the_sorted_values(self):
    with jax.enable_x64():
      usage = jnp.float64([0.9, 0.2, 0.7, 0.5])
      chex.assert_numerical_grads(dnc.dnc_allocation, (usage,), order=1)
      # d a[3] / d u[1]: slot 3 comes second, after slot 1.
      jac = jax.jacobian(dnc.dnc_allocation)(usage)
      np.testing.assert_allclose(jac[3, 1], 1 - 0.5, rtol=1e-12)

  def test_usage_frees_what_was_read_with_free_gate_one(self):
    reads = jnp.float32([[0.0, 1.0, 0.0]])
    u = dnc.dnc_usage(jnp.float32([0.5, 0.9, 0.3]), jnp.zeros(3),
                      reads, jnp.float32([1.0]))
    np.testing.assert_allclose(u, [0.5, 0.0, 0.3], atol=1e-7)
    self.assertTrue(_grads_finite(dnc.dnc_usage, jnp.float32([0.5, 0.9, 0.3]),
                                  jnp.zeros(3), reads, jnp.float32([1.0])))

  def test_usage_stays_in_unit_interval(self):
    rng = np.random.default_rng(3)
    for _ in range(5):
      e = _example(rng)
      u = dnc.dnc_usage(jnp.float32(e['usage']), jnp.float32(e['write']),
                        jnp.float32(e['reads']), jnp.float32(e['free']))
      self.assertTrue(bool(jnp.all((u >= 0) & (u <= 1))))

  def test_link_diagonal_is_zero_and_follows_writes(self):
    # Write slot 2, then slot 0: L[0, 2] = 1 (0 was written after 2).
    n = 4
    link, prec = jnp.zeros((n, n)), jnp.zeros(n)
    for slot in (2, 0):
      w = jax.nn.one_hot(slot, n)
      link = dnc.dnc_link(link, prec, w)
      prec = dnc.dnc_precedence(prec, w)
    np.testing.assert_allclose(np.diag(link), 0.0)
    np.testing.assert_allclose(link[0, 2], 1.0)
    self.assertEqual(float(jnp.abs(link).sum()), 1.0)
    forward, backward = dnc.dnc_directional_weights(
        link, jax.nn.one_hot(2, n)[None])
    np.testing.assert_allclose(forward[0], jax.nn.one_hot(0, n))
    np.testing.assert_allclose(backward[0], jnp.zeros(n))

  def test_numerical_gradients(self):
    rng = np.random.default_rng(5)
    e = _example(rng)
    with jax.enable_x64():
      f = lambda k: jnp.float64(e[k])
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
        chex.assert_numerical_grads(fn, args, order=1)

  def test_shape_errors(self):
    with self.assertRaises(AssertionError):
      dnc.dnc_link(jnp.zeros((3, 4)), jnp.zeros(3), jnp.zeros(3))
    with self.assertRaises(AssertionError):
      dnc.dnc_read_weights(jnp.zeros((2, 4)), jnp.zeros((2, 4)),
                           jnp.zeros((2, 4)), jnp.zeros((2, 2)))
    with self.assertRaises(AssertionError):
      dnc.dnc_usage(jnp.zeros(4), jnp.zeros(4), jnp.zeros((2, 4)),
                    jnp.zeros(3))


if __name__ == '__main__':
  absltest.main()
