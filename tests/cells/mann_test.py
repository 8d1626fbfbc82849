"""Tests for the MANN cell (Santoro et al. 2016): one step against the
paper's equations written in NumPy, modes, free memory and batch sizes,
degenerate inputs, config errors.
"""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np

from memax.cells import mann
from memax.models import SequenceModel

_B, _D = 3, 7


def _cell(**kw):
  defaults = dict(controller_size=12, memory_size=10, word_size=6,
                  num_heads=3)
  defaults.update(kw)
  return mann.MANNCell(**defaults)


def _init(cell, seed=0, batch=_B):
  x = np.random.default_rng(seed).normal(size=(batch, _D)).astype(np.float32)
  carry = cell.initialize_carry(jax.random.key(1), x.shape)
  params = cell.init(jax.random.key(2), carry, x)
  return params, carry, x


def _random_carry(cell, carry, seed):
  """A carry in the middle of an episode: random memory, usage, weights."""
  rng = np.random.default_rng(seed)
  n, r = cell.memory_size, cell.num_heads
  weights = np.exp(3 * rng.normal(size=(_B, r, n)))
  # NumPy: host arrays, nothing to compile.
  return carry._replace(
      memory=np.float32(rng.normal(size=(_B, n, cell.word_size))),
      read_weights=np.float32(weights / weights.sum(-1, keepdims=True)),
      usage=np.float32(rng.uniform(0, 2, (_B, n))),
      read_vectors=np.float32(rng.normal(size=(_B, r, cell.word_size))))


def np_step(cell, memory, prev_read, prev_usage, raw):
  """One LRUA memory step of one example from the paper (float64).

  raw: the interface vector before activation, `[R * size]`.
  """
  sig = lambda z: 1.0 / (1.0 + np.exp(-z))
  r, n, w = cell.num_heads, cell.memory_size, cell.word_size
  raw = raw.reshape(r, -1)
  keys = np.tanh(raw[:, :w])
  gates = sig(raw[:, w])
  col = w + 1
  adds = keys
  if cell.write_vector == 'separate':
    adds = np.tanh(raw[:, col:col + w])
    col += w
  strengths = np.ones(r)
  if cell.key_strength:
    strengths = 1.0 + np.log1p(np.exp(raw[:, col]))
  # Eq. 21 with per-head rows: the (i+1)-th smallest usage, ties by index.
  order = sorted(range(n), key=lambda i: (prev_usage[i], i))
  least = np.zeros((r, n))
  for i in range(r):
    if cell.least_used == 'per_head':
      least[i, order[i]] = 1.0
    else:
      least[i, order[:r]] = 1.0
  # Eq. 22.
  write_weights = gates[:, None] * prev_read + (1 - gates[:, None]) * least
  # The least-used slot is zeroed, then every head adds (eq. 23).
  new_memory = np.array(memory, np.float64)
  new_memory[order[0]] = 0.0
  for i in range(r):
    new_memory += np.outer(write_weights[i], adds[i])
  # Eqs. 17-19: cosine similarity, softmax; snowkylin/ntm compares the
  # keys with the memory before the clearing and the write.
  addressed = new_memory
  if cell.read_addressing == 'previous':
    addressed = np.array(memory, np.float64)
  read_weights = np.zeros((r, n))
  for i in range(r):
    sims = np.array([
        keys[i] @ addressed[j] / (np.linalg.norm(keys[i])
                                  * np.linalg.norm(addressed[j]) + 1e-6)
        for j in range(n)])
    e = np.exp(strengths[i] * sims - np.max(strengths[i] * sims))
    read_weights[i] = e / e.sum()
  reads = read_weights @ new_memory
  # Eq. 20.
  usage = (cell.gamma * prev_usage + read_weights.sum(0)
           + write_weights.sum(0))
  return new_memory, read_weights, write_weights, usage, reads


class MANNCellTest(parameterized.TestCase):

  @parameterized.product(write_vector=['separate', 'key'],
                         least_used=['per_head', 'shared'],
                         key_strength=[False, True],
                         read_addressing=['written', 'previous'])
  def test_step_matches_the_equations(self, write_vector, least_used,
                                      key_strength, read_addressing):
    cell = _cell(write_vector=write_vector, least_used=least_used,
                 key_strength=key_strength, read_addressing=read_addressing,
                 gamma=0.9, return_aux=True)
    params, carry, x = _init(cell)
    carry = _random_carry(cell, carry, seed=3)
    # On the host: indexing the results below compiles nothing.
    new, (y, aux) = jax.device_get(cell.apply(params, carry, x))
    _, h, raw = jax.device_get(cell.apply(
        params, carry, x, method=mann.MANNCell.controller_step))
    for b in range(_B):
      memory, read_w, write_w, usage, reads = np_step(
          cell, np.float64(carry.memory[b]), np.float64(carry.read_weights[b]),
          np.float64(carry.usage[b]), np.float64(raw[b]))
      np.testing.assert_allclose(new.memory[b], memory, rtol=1e-4, atol=1e-5)
      np.testing.assert_allclose(new.read_weights[b], read_w, rtol=1e-4,
                                 atol=1e-6)
      np.testing.assert_allclose(aux['write_weights'][b], write_w,
                                 rtol=1e-4, atol=1e-6)
      np.testing.assert_allclose(new.usage[b], usage, rtol=1e-4, atol=1e-5)
      np.testing.assert_allclose(new.read_vectors[b], reads, rtol=1e-4,
                                 atol=1e-5)
      np.testing.assert_allclose(y[b], np.concatenate([h[b], reads.ravel()]),
                                 rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(aux['usage'], new.usage)
    np.testing.assert_array_equal(aux['read_weights'], new.read_weights)

  def test_controller_reads_the_previous_reads(self):
    cell = _cell()
    params, carry, x = _init(cell)
    _, h0, _ = cell.apply(params, carry, x,
                          method=mann.MANNCell.controller_step)
    carry = carry._replace(read_vectors=np.asarray(carry.read_vectors) + 1.0)
    _, h1, _ = cell.apply(params, carry, x,
                          method=mann.MANNCell.controller_step)
    self.assertGreater(float(np.abs(np.asarray(h1) - np.asarray(h0)).max()),
                       1e-4)

  def test_initial_carry(self):
    cell = _cell(memory_init_value=1e-6)
    carry = jax.device_get(cell.initialize_carry(jax.random.key(0), (4, _D)))
    np.testing.assert_array_equal(carry.memory, np.full((4, 10, 6), 1e-6,
                                                        np.float32))
    np.testing.assert_array_equal(carry.usage, np.zeros((4, 10)))
    np.testing.assert_array_equal(carry.read_weights[:, :, 0], 1.0)
    self.assertEqual(carry.read_vectors.shape, (4, 3, 6))

  def test_first_writes_go_to_distinct_unused_slots(self):
    # With zero usage, head i's least-used slot is slot i; slot 0 is also
    # every head's previous read slot.
    cell = _cell(return_aux=True)
    params, carry, x = _init(cell)
    _, (_, aux) = cell.apply(params, carry, x)
    w = np.asarray(aux['write_weights'])
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-6)
    for i in range(1, 3):
      self.assertEqual(set(np.flatnonzero(w[0, i] > 0)), {0, i})

  def test_memory_and_batch_sizes_are_free(self):
    cell = _cell()
    params, _, _ = _init(cell)
    for n, batch in ((10, 1), (64, 5)):
      bigger = _cell(memory_size=n)
      x = np.ones((batch, _D), np.float32)
      # Shapes only (flax checks every parameter's shape as the cell is
      # traced): nothing to compile.
      new, (y, _) = jax.eval_shape(
          lambda p, x: bigger.apply(
              p, bigger.initialize_carry(jax.random.key(0), x.shape), x),
          params, x)
      self.assertEqual(new.memory.shape, (batch, n, 6))
      self.assertEqual(y.shape, (batch, 12 + 3 * 6))

  def test_zero_memory_and_keys_are_finite_with_gradients(self):
    cell = _cell(memory_init_value=0.0)
    model = SequenceModel(cell=cell, output_size=4)
    x = jnp.zeros((2, 5, _D))
    # Zero interface weights: keys are tanh(0) = 0 and gates 1/2. (All
    # parameters zero: only their shapes come from `init`, nothing to
    # compile.)
    params = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype),
                          jax.eval_shape(model.init, jax.random.key(0), x))
    with jax.debug_nans(True):
      out = model.apply(params, x)
      grads = jax.grad(lambda p: jnp.sum(model.apply(p, x).logits ** 2)
                       + jnp.sum(model.apply(p, x + 1.0).logits))(params)
    self.assertTrue(np.all(np.isfinite(out.logits)))
    for g in jax.tree.leaves(grads):
      self.assertTrue(np.all(np.isfinite(g)))

  def test_scan_under_jit_with_gradients(self):
    cell = _cell(least_used='shared')
    model = SequenceModel(cell=cell, output_size=5)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 6, _D)),
                    jnp.float32)
    params = jax.jit(model.init)(jax.random.key(0), x)  # one compilation.
    loss = jax.jit(jax.value_and_grad(
        lambda p: jnp.mean(model.apply(p, x).logits ** 2)))
    value, grads = jax.device_get(loss(params))
    self.assertTrue(np.isfinite(value))
    norms = [float(np.abs(g).sum()) for g in jax.tree.leaves(grads)]
    self.assertTrue(all(np.isfinite(norms)))
    self.assertGreater(min(norms), 0.0)

  @parameterized.parameters(
      ('num_heads', 0, 'num_heads must be a positive integer'),
      ('num_heads', 11, r'num_heads \(11\) must not exceed'),
      ('memory_size', 2.5, 'memory_size must be a positive integer'),
      ('write_vector', 'add', 'write_vector must be one of'),
      ('least_used', 'lru', 'least_used must be one of'),
      ('read_addressing', 'before', 'read_addressing must be one of'),
      ('gamma', 1.5, r'gamma \(usage decay\) must be in'))
  def test_bad_config(self, field, value, message):
    cell = _cell(**{field: value})
    with self.assertRaisesRegex(ValueError, f'config.model.{message}'):
      cell.initialize_carry(jax.random.key(0), (1, _D))


if __name__ == '__main__':
  absltest.main()
