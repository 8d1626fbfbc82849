"""Tests for `memax.ops.attention` (MemN2N sec. 2 and 4.1; KV-MemNN sec. 3).

Every op is checked against a NumPy reference written from the paper's
equations (float64, explicit loops), batched with `jax.vmap`, on
hand-computed cases and properties, with `check_grads`, and on degenerate
inputs under `jax.debug_nans`.
"""

import functools
import types

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from memax.ops import attention
from tests.ops import grad_testing

_B = 3  # batch
_SIZES = {'m5_l4_d3': (5, 4, 3), 'm8_l7_d6': (8, 7, 6)}  # (M, L, d)


# --- NumPy references: one example, float64, written from the equations. ---


def np_position_encoding(sentence_size, embedding_size):
  """MemN2N sec. 4.1: l_kj = (1 - j/J) - (k/d)(1 - 2j/J), j, k 1-based."""
  J, d = sentence_size, embedding_size  # pylint: disable=invalid-name
  out = np.zeros((J, d))
  for j in range(1, J + 1):
    for k in range(1, d + 1):
      out[j - 1, k - 1] = (1 - j / J) - (k / d) * (1 - 2 * j / J)
  return out


def np_position_encoding_weights(words, embedding_size):
  """The same formula with J = number of real words, j = rank among them."""
  real = [i for i, w in enumerate(words) if w != 0]
  out = np.zeros((len(words), embedding_size))
  if real:
    table = np_position_encoding(len(real), embedding_size)
    for rank, i in enumerate(real):
      out[i] = table[rank]
  return out


def np_bag_of_words(embeddings, words, weights=None):
  """m = sum_j l_j * A x_j over the real words."""
  out = np.zeros(embeddings.shape[1])
  for j, w in enumerate(words):
    if w != 0:
      out += embeddings[j] * (1.0 if weights is None else weights[j])
  return out


def np_masked_softmax(logits, mask):
  """softmax over the real slots; 0 on masked ones (all 0 if none real)."""
  out = np.zeros(len(logits))
  real = [i for i in range(len(logits)) if mask[i]]
  if real:
    top = max(logits[i] for i in real)
    total = sum(np.exp(logits[i] - top) for i in real)
    for i in real:
      out[i] = np.exp(logits[i] - top) / total
  return out


def np_memory_attention(keys, query, mask, linear=False):
  """MemN2N eq. 1: p_i = softmax(u^T m_i); LS: p_i = u^T m_i."""
  scores = np.array([np.sum(keys[i] * query) for i in range(len(keys))])
  if linear:
    return np.where(mask != 0, scores, 0.0)
  return np_masked_softmax(scores, mask)


def np_memory_read(values, weights):
  """MemN2N eq. 2: o = sum_i p_i c_i."""
  out = np.zeros(values.shape[1])
  for i in range(len(values)):
    out += weights[i] * values[i]
  return out


def np_memory_age(mask, gaps):
  """Age = real memories newer than i + empty memories inserted after i."""
  n = len(mask)
  out = np.zeros(n, np.int64)
  for i in range(n):
    out[i] = sum(1 for j in range(i + 1, n) if mask[j])
    out[i] += sum(gaps[j] for j in range(i, n) if mask[j])
  return out


def _random_words(rng, lead, length, vocab=9):
  """Word ids with random lengths, left-aligned and 0-padded; some empty."""
  words = rng.integers(1, vocab, size=lead + (length,))
  lengths = rng.integers(0, length + 1, size=lead)
  return np.where(np.arange(length) < lengths[..., None], words, 0)


def _random_inputs(seed, lead, m, l, d, dtype=np.float32):
  rng = np.random.default_rng(seed)
  mask = rng.uniform(size=lead + (m,)) < 0.7
  mask[..., 0] = True  # at least one real slot
  inputs = dict(
      embeddings=rng.normal(size=lead + (l, d)).astype(dtype),
      weights=rng.normal(size=lead + (l, d)).astype(dtype),
      words=_random_words(rng, lead, l).astype(np.int32),
      logits=(3.0 * rng.normal(size=lead + (m,))).astype(dtype),
      keys=rng.normal(size=lead + (m, d)).astype(dtype),
      query=rng.normal(size=lead + (d,)).astype(dtype),
      values=rng.normal(size=lead + (m, d)).astype(dtype),
      mask=mask,
      gaps=rng.integers(0, 3, size=lead + (m,)).astype(np.int32),
  )
  inputs['attention'] = np.stack([
      np_masked_softmax(x, k) for x, k in zip(
          inputs['logits'].reshape(-1, m), mask.reshape(-1, m))
  ]).reshape(lead + (m,)).astype(dtype)
  return inputs


# op name -> (op, reference, names of its array arguments in order).
_OPS = {
    'bag_of_words': (
        attention.bag_of_words, np_bag_of_words, ('embeddings', 'words')),
    'bag_of_words_weighted': (
        lambda e, w, l: attention.bag_of_words(e, w, weights=l),
        np_bag_of_words, ('embeddings', 'words', 'weights')),
    'masked_softmax': (
        attention.masked_softmax, np_masked_softmax, ('logits', 'mask')),
    'memory_attention': (
        attention.memory_attention, np_memory_attention,
        ('keys', 'query', 'mask')),
    'memory_attention_linear': (
        functools.partial(attention.memory_attention, linear=True),
        functools.partial(np_memory_attention, linear=True),
        ('keys', 'query', 'mask')),
    'memory_read': (
        attention.memory_read, np_memory_read, ('values', 'attention')),
    'memory_age': (
        lambda m, g: attention.memory_age(m, gaps=g), np_memory_age,
        ('mask', 'gaps')),
}


@functools.cache
def _all_ops():
  """`inputs -> {op: op vmapped over the batch}`, for every op of `_OPS`.

  The with_jit variant of the reference test jits this instead of each op:
  one program per size instead of one per op and size (compilation is most
  of the time, and XLA compiles a fused kernel once per program; the ops
  share several).
  """
  return lambda inputs: {
      name: jax.vmap(op)(*(inputs[k] for k in names))
      for name, (op, _, names) in _OPS.items()}




# The ops jitted, for the tests on values: one program per op and shape
# instead of one per primitive run eagerly (compilation is most of the time).
# Python `linear` flags stay static, as in an eager call.
jitted = types.SimpleNamespace(
    position_encoding=jax.jit(attention.position_encoding,
                              static_argnums=(0, 1),
                              static_argnames=('length', 'centered')),
    position_encoding_weights=jax.jit(attention.position_encoding_weights,
                                      static_argnums=1),
    centered_position_encoding_weights=jax.jit(
        attention.centered_position_encoding_weights, static_argnums=1),
    encoding_weights=jax.jit(attention.encoding_weights,
                             static_argnums=(1, 2)),
    encoding_factors=jax.jit(attention.encoding_factors,
                             static_argnums=(1, 2), static_argnames='length'),
    weighted_counts=jax.jit(attention.weighted_counts, static_argnums=2,
                            static_argnames='mode'),
    bag_of_words=jax.jit(attention.bag_of_words),
    masked_softmax=jax.jit(attention.masked_softmax),
    memory_attention=jax.jit(attention.memory_attention,
                             static_argnames='linear'),
    memory_read=jax.jit(attention.memory_read),
    memory_age=jax.jit(attention.memory_age),
)


class ReferenceTest(parameterized.TestCase):
  """Each op, vmapped over a batch, equals its NumPy reference."""

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.named_parameters(*(
      dict(testcase_name=f'{op}_{size}', op=op, size=size)
      for op in _OPS for size in _SIZES))
  def test_matches_reference_over_batch(self, op, size):
    fn, ref, names = _OPS[op]
    inputs = _random_inputs(0, (_B,), *_SIZES[size])
    args = [inputs[k] for k in names]
    if self.variant.type == chex.ChexVariantType.WITH_JIT:
      out = self.variant(_all_ops())(inputs)[op]
    else:
      out = self.variant(jax.vmap(fn))(*args)
    expected = np.stack([ref(*(a[b] for a in args)) for b in range(_B)])
    chex.assert_shape(out, expected.shape)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(4, 7)
  def test_position_encoding_weights_over_batch(self, d):
    words = _random_inputs(1, (_B, 2), 5, 6, d)['words']
    out = self.variant(jax.vmap(jax.vmap(
        functools.partial(attention.position_encoding_weights,
                          embedding_size=d))))(words)
    for idx in np.ndindex(words.shape[:2]):
      np.testing.assert_allclose(
          out[idx], np_position_encoding_weights(words[idx], d),
          rtol=1e-5, atol=1e-6)


class PositionEncodingTest(parameterized.TestCase):

  @parameterized.parameters((1, 1), (1, 5), (4, 3), (6, 20), (11, 7))
  def test_table_matches_reference(self, sentence_size, embedding_size):
    np.testing.assert_allclose(
        jitted.position_encoding(sentence_size, embedding_size),
        np_position_encoding(sentence_size, embedding_size),
        rtol=1e-5, atol=1e-6)

  @parameterized.parameters((3, 5, 4, False), (4, 4, 6, True),
                            (2, 7, 3, True))
  def test_longer_length_and_centered(self, rows, length, d, centered):
    out = np.asarray(jitted.position_encoding(rows, d, length=length,
                                              centered=centered))
    self.assertEqual(out.shape, (rows, d))
    for j in range(1, rows + 1):
      for k in range(1, d + 1):
        if centered:
          expected = 1 + 4 * (k - (d + 1) / 2) * (j - (length + 1) / 2) / (
              d * length)
        else:
          expected = (1 - j / length) - (k / d) * (1 - 2 * j / length)
        self.assertAlmostEqual(float(out[j - 1, k - 1]), expected, places=5)
    with self.assertRaises(ValueError):
      attention.position_encoding(5, d, length=4)

  def test_hand_computed(self):
    # J = 2, d = 2: l[j, k] = (1 - j/2) - (k/2)(1 - j).
    np.testing.assert_allclose(
        jitted.position_encoding(2, 2), [[0.5, 0.5], [0.5, 1.0]],
        atol=1e-7)

  @parameterized.parameters(3, 8)
  def test_true_length_equals_table_without_padding(self, d):
    words = jnp.array([3, 1, 4, 1, 5])
    np.testing.assert_allclose(
        jitted.position_encoding_weights(words, d),
        jitted.position_encoding(5, d), rtol=1e-6)

  def test_true_length_ignores_padding(self):
    d = 6
    short = jitted.position_encoding_weights(jnp.array([7, 2, 9]), d)
    padded = np.asarray(jitted.position_encoding_weights(
        jnp.array([7, 2, 9, 0, 0, 0]), d))
    np.testing.assert_allclose(padded[:3], short, rtol=1e-6)
    np.testing.assert_allclose(padded[3:], 0.0)
    # Padding between words is skipped too.
    holes = np.asarray(jitted.position_encoding_weights(
        jnp.array([7, 0, 2, 0, 9]), d))
    np.testing.assert_allclose(holes[[0, 2, 4]], short, rtol=1e-6)
    np.testing.assert_allclose(holes[[1, 3]], 0.0)

  def test_fixed_table_differs_from_true_length_with_padding(self):
    words = jnp.array([7, 2, 9, 0, 0])
    self.assertFalse(np.allclose(
        np.asarray(jitted.position_encoding_weights(words, 4))[:3],
        np.asarray(jitted.position_encoding(5, 4))[:3]))

  def test_all_padding_is_zero(self):
    out = jitted.position_encoding_weights(np.zeros(4, np.int32), 3)
    np.testing.assert_array_equal(out, np.zeros((4, 3)))

  def test_invalid_sizes_raise(self):
    with self.assertRaises(ValueError):
      attention.position_encoding(0, 4)
    with self.assertRaises(ValueError):
      attention.position_encoding(4, 0)

  def test_wrong_rank_raises(self):
    with self.assertRaises(AssertionError):
      attention.position_encoding_weights(jnp.ones((2, 3), jnp.int32), 4)


def np_centered_position_encoding(words, d):
  """The authors' code: 1 + 4 (k - (d+1)/2) (j - (J+1)/2) / (d J), J real."""
  real = [i for i, w in enumerate(words) if w != 0]
  big_j = len(real)
  out = np.zeros((len(words), d))
  for rank, i in enumerate(real):
    j = rank + 1
    for k in range(1, d + 1):
      out[i, k - 1] = 1 + 4 * (k - (d + 1) / 2) * (j - (big_j + 1) / 2) / (
          d * big_j)
  return out


class CenteredPositionEncodingTest(parameterized.TestCase):

  @parameterized.parameters(1, 4, 20)
  def test_matches_reference_with_padding(self, d):
    words = np.array([5, 3, 0, 8, 1, 0, 0])
    out = jitted.centered_position_encoding_weights(jnp.asarray(words), d)
    np.testing.assert_allclose(out, np_centered_position_encoding(words, d),
                               rtol=1e-6, atol=1e-6)

  def test_about_twice_the_papers_weights(self):
    # Centred on 1 (the paper's formula is centred on about 1/2): the mean
    # weight of a sentence is exactly 1, against 1/2 + O(1/J d).
    words = jnp.arange(1, 8)
    centered = jitted.centered_position_encoding_weights(words, 20)
    paper = jitted.position_encoding_weights(words, 20)
    np.testing.assert_allclose(float(jnp.mean(centered)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(float(jnp.mean(paper)), 0.5, atol=0.01)

  def test_encoding_weights_by_name(self):
    words = jnp.array([4, 2, 7, 0])
    self.assertIsNone(jitted.encoding_weights(words, 3, 'bow'))
    np.testing.assert_array_equal(
        jitted.encoding_weights(words, 3, 'position'),
        jitted.position_encoding_weights(words, 3))
    np.testing.assert_array_equal(
        jitted.encoding_weights(words, 3, 'position_centered'),
        jitted.centered_position_encoding_weights(words, 3))
    with self.assertRaisesRegex(ValueError, 'position_centered'):
      attention.encoding_weights(words, 3, 'pe')

  def test_single_word_and_all_padding(self):
    np.testing.assert_allclose(
        jitted.centered_position_encoding_weights(jnp.array([4, 0]), 3),
        [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(
        jitted.centered_position_encoding_weights(np.zeros(4, np.int32), 3),
        np.zeros((4, 3)))


class BagOfWordsTest(absltest.TestCase):

  def test_hand_computed(self):
    embeddings = jnp.array([[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]])
    words = jnp.array([5, 6, 0])
    np.testing.assert_allclose(
        jitted.bag_of_words(embeddings, words), [4.0, 6.0])
    weights = jnp.array([[2.0, 0.0], [1.0, 1.0], [9.0, 9.0]])
    np.testing.assert_allclose(
        jitted.bag_of_words(embeddings, words, weights=weights),
        [5.0, 4.0])

  def test_wrong_shapes_raise(self):
    with self.assertRaises(AssertionError):
      attention.bag_of_words(jnp.ones((3, 2)), jnp.ones((4,), jnp.int32))
    with self.assertRaises(AssertionError):
      attention.bag_of_words(jnp.ones((3, 2)), jnp.ones((3,), jnp.int32),
                             weights=jnp.ones((3, 3)))


class MaskedSoftmaxTest(absltest.TestCase):

  def test_masked_slots_get_zero_and_the_rest_is_a_softmax(self):
    logits = jnp.array([1.0, 5.0, 2.0, 9.0])
    mask = jnp.array([True, False, True, False])
    out = jitted.masked_softmax(logits, mask)
    e = np.exp([1.0, 2.0])
    np.testing.assert_allclose(out, [e[0] / e.sum(), 0.0, e[1] / e.sum(),
                                     0.0], rtol=1e-6)

  def test_float_mask(self):
    logits = jnp.array([1.0, 5.0, 2.0])
    np.testing.assert_allclose(
        jitted.masked_softmax(logits, jnp.array([1.0, 0.0, 1.0])),
        jitted.masked_softmax(logits, jnp.array([True, False, True])))

  def test_all_masked_is_zero(self):
    out = jitted.masked_softmax(jnp.array([1.0, 2.0]),
                                jnp.array([False, False]))
    np.testing.assert_array_equal(out, [0.0, 0.0])

  def test_wrong_shapes_raise(self):
    with self.assertRaises(AssertionError):
      attention.masked_softmax(jnp.ones((3,)), jnp.ones((4,)))
    with self.assertRaises(AssertionError):
      attention.masked_softmax(jnp.ones((1, 3)), jnp.ones((1, 3)))


class MemoryAttentionTest(absltest.TestCase):

  def test_traced_linear_flag_selects_the_same_results(self):
    inputs = _random_inputs(3, (), 6, 3, 4)
    args = (inputs['keys'], inputs['query'], inputs['mask'])
    fn = jax.jit(lambda flag: attention.memory_attention(*args, linear=flag))
    np.testing.assert_allclose(
        fn(jnp.array(True)), jitted.memory_attention(*args, linear=True),
        rtol=1e-6)
    np.testing.assert_allclose(
        fn(jnp.array(False)), jitted.memory_attention(*args), rtol=1e-6)

  def test_read_of_one_hot_attention_is_the_row(self):
    values = np.arange(12.0, dtype=np.float32).reshape(4, 3)
    np.testing.assert_allclose(
        jitted.memory_read(values, jax.nn.one_hot(2, 4)), values[2])

  def test_wrong_shapes_raise(self):
    with self.assertRaises(AssertionError):
      attention.memory_attention(jnp.ones((4, 3)), jnp.ones((2,)),
                                 jnp.ones((4,)))
    with self.assertRaises(AssertionError):
      attention.memory_attention(jnp.ones((4, 3)), jnp.ones((3,)),
                                 jnp.ones((5,)))
    with self.assertRaises(AssertionError):
      attention.memory_read(jnp.ones((4, 3)), jnp.ones((3,)))


class MemoryAgeTest(absltest.TestCase):

  def test_hand_computed(self):
    mask = jnp.array([1, 1, 0, 1, 0, 0])
    np.testing.assert_array_equal(
        np.asarray(jitted.memory_age(mask))[[0, 1, 3]], [2, 1, 0])
    gaps = jnp.array([1, 0, 5, 1, 7, 7])  # gaps after empty slots ignored
    np.testing.assert_array_equal(
        np.asarray(jitted.memory_age(mask, gaps=gaps))[[0, 1, 3]],
        [4, 2, 1])

  def test_independent_of_trailing_empty_slots(self):
    mask = np.array([1, 1, 1], np.int32)
    np.testing.assert_array_equal(
        np.asarray(jitted.memory_age(
            np.concatenate([mask, np.zeros(4, np.int32)])))[:3],
        jitted.memory_age(mask))


class GradientTest(parameterized.TestCase):
  """Second-order reverse-mode gradients match finite differences (x64)."""

  @parameterized.named_parameters(
      ('bag_of_words', lambda i: (
          lambda e, l: attention.bag_of_words(e, i['words'], weights=l),
          ('embeddings', 'weights'))),
      ('masked_softmax', lambda i: (
          lambda x: attention.masked_softmax(x, i['mask']), ('logits',))),
      ('memory_attention', lambda i: (
          lambda k, q: attention.memory_attention(k, q, i['mask']),
          ('keys', 'query'))),
      ('memory_attention_linear', lambda i: (
          lambda k, q: attention.memory_attention(k, q, i['mask'],
                                                  linear=True),
          ('keys', 'query'))),
      ('memory_read', lambda i: (attention.memory_read,
                                 ('values', 'attention'))),
  )
  def test_check_grads(self, make):
    with jax.enable_x64(True):
      inputs = _random_inputs(4, (), 5, 4, 3, dtype=np.float64)
      fn, names = make(inputs)
      args = [jnp.asarray(inputs[k]) for k in names]
      grad_testing.check_grads_rev2(fn, args, atol=1e-5, rtol=1e-5)


class DegenerateInputsTest(parameterized.TestCase):
  """Values and gradients stay finite on all-zero, huge and all-masked.

  Memories of 4 slots of 3 throughout: the ops run op by op (a program per
  operation and shape), and the tests then share those programs.
  """

  def _assert_finite_value_and_grad(self, fn, *args):
    args = [jnp.asarray(a, jnp.float32) for a in args]
    with jax.debug_nans(True):
      for f in (fn, jax.jit(fn)):
        out = f(*args)
        cotangent = jnp.asarray(
            np.random.default_rng(0).normal(size=out.shape), jnp.float32)
        grads = jax.grad(
            lambda *a, f=f, c=cotangent: jnp.sum(f(*a) * c),
            argnums=tuple(range(len(args))))(*args)
        self.assertTrue(np.all(np.isfinite(out)), msg=f'{out}')
        for g in grads:
          self.assertTrue(np.all(np.isfinite(g)), msg=f'{g}')
    return out

  @parameterized.parameters(False, True)
  def test_zero_keys_and_query(self, linear):
    mask = jnp.array([1, 1, 0, 1])
    out = self._assert_finite_value_and_grad(
        lambda k, q: attention.memory_attention(k, q, mask, linear=linear),
        np.zeros((4, 3)), np.zeros(3))
    expected = [0.0] * 4 if linear else [1 / 3, 1 / 3, 0.0, 1 / 3]
    np.testing.assert_allclose(out, expected, rtol=1e-6)

  def test_huge_scores(self):
    keys = np.array([[1e4, 0.0, 0.0], [-1e4, 0.0, 0.0], [0.0, 1e4, 0.0],
                     [1e4, 1e4, 0.0]])
    mask = jnp.array([1, 1, 1, 0])
    out = self._assert_finite_value_and_grad(
        lambda k, q: attention.memory_attention(k, q, mask),
        keys, np.array([1.0, 0.5, 0.0]))
    np.testing.assert_allclose(out, [1.0, 0.0, 0.0, 0.0], atol=1e-6)

  def test_huge_logits_softmax(self):
    mask = jnp.array([1, 1, 0, 0])
    out = self._assert_finite_value_and_grad(
        lambda x: attention.masked_softmax(x, mask),
        np.array([1e4, -1e4, 1e30, -1e30]))
    np.testing.assert_allclose(out, [1.0, 0.0, 0.0, 0.0], atol=1e-6)

  def test_all_masked(self):
    mask = jnp.zeros(4, bool)
    out = self._assert_finite_value_and_grad(
        lambda k, q: attention.memory_attention(k, q, mask),
        np.ones((4, 3)), np.ones(3))
    np.testing.assert_array_equal(out, np.zeros(4))
    out = self._assert_finite_value_and_grad(
        attention.memory_read, np.ones((4, 3)), out)
    np.testing.assert_array_equal(out, np.zeros(3))

  def test_zero_embeddings_and_empty_sentence(self):
    words = jnp.zeros(4, jnp.int32)
    weights = jitted.position_encoding_weights(words, 3)
    out = self._assert_finite_value_and_grad(
        lambda e: attention.bag_of_words(e, words, weights=weights),
        np.zeros((4, 3)))
    np.testing.assert_array_equal(out, np.zeros(3))


class EncodingFactorsTest(parameterized.TestCase):
  """The factored weights and counts are the weights and gathers."""

  _WORDS = np.array([[3, 1, 4, 1, 5, 0, 0], [0, 2, 0, 7, 0, 0, 1],
                     [0, 0, 0, 0, 0, 0, 0], [9, 2, 6, 5, 3, 5, 8]], np.int32)

  @parameterized.parameters('position', 'position_centered', 'bow')
  def test_factors_give_the_encoding_weights(self, encoding):
    for words in self._WORDS:
      c, g = jitted.encoding_factors(jnp.asarray(words), 6, encoding)
      weights = jitted.encoding_weights(jnp.asarray(words), 6, encoding)
      if weights is None:
        weights = np.ones((len(words), 6)) * (words != 0)[:, None]
      np.testing.assert_allclose(c @ g, weights, atol=1e-6)

  @parameterized.parameters('position', 'position_centered')
  def test_fixed_length_factors_give_the_padded_table(self, encoding):
    words = jnp.asarray(self._WORDS[0])
    c, g = jitted.encoding_factors(words, 5, encoding, length=8)
    table = jitted.position_encoding(
        7, 5, length=8, centered=encoding == 'position_centered')
    np.testing.assert_allclose(c @ g, table * (self._WORDS[0] != 0)[:, None],
                               atol=1e-6)

  def test_weighted_counts_are_one_hot_sums(self):
    ids = jnp.asarray(self._WORDS.reshape(-1))
    coef = np.random.default_rng(0).normal(
        size=(ids.shape[0], 2)).astype(np.float32)
    expected = np.eye(10)[self._WORDS.reshape(-1)].T @ coef
    np.testing.assert_allclose(jitted.weighted_counts(ids, coef, 10),
                               expected, atol=1e-6)
    np.testing.assert_allclose(
        jitted.weighted_counts(ids, coef, 10, mode='promise_in_bounds'),
        expected, atol=1e-6)

  def test_attention_from_scores_is_memory_attention(self):
    rng = np.random.default_rng(1)
    keys = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
    query = jnp.asarray(rng.normal(size=(4,)), jnp.float32)
    mask = jnp.array([1, 0, 1, 1, 0])
    for linear in (False, True, jnp.bool_(True), jnp.bool_(False)):
      np.testing.assert_allclose(
          attention.attention_from_scores(keys @ query, mask, linear=linear),
          attention.memory_attention(keys, query, mask, linear=linear),
          atol=1e-6)


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
