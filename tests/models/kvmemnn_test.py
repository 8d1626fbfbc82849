"""Tests for `memax.models.kvmemnn` (Miller et al. 2016, sec. 3).

The forward pass (sentence and window memories) is checked against a NumPy
reference of the paper's equations (float64, explicit loops, windows built
independently) that uses the module's own parameters; then the window
construction on a hand example, padding invariance, free batch / memory /
sentence sizes and finite gradients.
"""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np
import qa_testing

from memax.models import kvmemnn

_V, _E, _F, _K = 13, 5, 7, 3  # vocabulary, embedding, features, hops
_M, _L = 6, 5  # memory slots, words per sentence


# --- NumPy reference: one example, float64, from sec. 3.1-3.2. ---


def np_feature(p, words, encoding):
  """A Phi(words) = (sum_j l_j * E x_j) P over the real words.

  With position encoding, J is the number of real words and j the rank of
  a word among them (windows at a sentence edge contain padding).
  """
  table = p['embedding']
  d = table.shape[1]
  real = [w for w in words if w != 0]
  J = len(real)  # pylint: disable=invalid-name
  out = np.zeros(d)
  for j, w in enumerate(real, start=1):
    for k in range(1, d + 1):
      out[k - 1] += qa_testing.np_word_weight(j, k, J, d, encoding) * table[
          w, k - 1]
  return out @ p['projection']


def np_kvmemnn(params, story, query, *, mode, encoding, temporal,
               window_size=3, temporal_size=4, mask_empty=True):
  """Logits `[V]`, per-slot attention `[K, slots]` for one example.

  `mask_empty=False`: empty slots stay in the softmax as zero keys and
  values (the TensorFlow implementation's memory).
  """
  p = {k: np.asarray(v, np.float64) for k, v in params['params'].items()}
  num_sentences, length = story.shape
  nonempty = [i for i in range(num_sentences) if np.any(story[i] != 0)]
  n = len(nonempty)
  slots = []  # (key words, value vector, real, sentence)
  for i in range(num_sentences):
    if mode == 'sentence':
      feature = np_feature(p, story[i], encoding)
      slots.append((feature, feature, i in nonempty, i))
      continue
    half = window_size // 2
    for c in range(length):
      window = [story[i, c + o] if 0 <= c + o < length else 0
                for o in range(-half, half + 1)]
      value = p['embedding'][story[i, c]] @ p['projection']
      slots.append((np_feature(p, window, encoding), value,
                    story[i, c] != 0, i))
  keys, values = [], []
  for key, value, _, i in slots:
    if temporal:
      age = min(n - 1 - i, temporal_size - 1) if i in nonempty else 0
      key = key + p['key_temporal'][age]
      value = value + p['value_temporal'][age]
    keys.append(key)
    values.append(value)
  real = [h for h, slot in enumerate(slots) if slot[2]]
  if not mask_empty:
    for h, slot in enumerate(slots):
      if not slot[2]:
        keys[h] = np.zeros_like(keys[h])
        values[h] = np.zeros_like(values[h])
    real = list(range(len(slots)))
  q = np_feature(p, query, encoding)
  attention = np.zeros((_K, len(slots)))
  for j in range(_K):
    scores = {h: float(np.dot(q, keys[h])) for h in real}
    if real:
      top = max(scores.values())
      total = sum(np.exp(s - top) for s in scores.values())
    o = np.zeros_like(q)
    for h in real:
      attention[j, h] = np.exp(scores[h] - top) / total
      o += attention[j, h] * values[h]
    q = p['hop_maps'][j] @ (q + o)
  return p['output_embedding'] @ q, attention


def random_batch(seed, batch=3, num_slots=_M, length=_L, empty_last=True):
  return qa_testing.random_batch(seed, batch, num_slots, length, _V,
                                 empty_last)


def _model(**kw):
  kw = dict(dict(vocab_size=_V, embedding_size=_E, feature_size=_F,
                 num_hops=_K, temporal_size=4), **kw)
  return kvmemnn.KVMemNN(**kw)


def _params(model, seed):
  return qa_testing.random_params(model, seed, _V)


_jitted = qa_testing.jitted


def _apply(model, params, inputs):
  """`(logits, aux)` of the jitted model, as NumPy arrays.

  Indexing a `jax.Array` compiles a program per shape.
  """
  out = _jitted(model)(params, inputs)
  return np.asarray(out.logits), jax.tree.map(np.asarray, out.aux), out.losses


def _forward_calls():
  """The forward passes that the value tests read, on the default shapes.

  `{key: (model, params, inputs)}`; each test reads its own keys.
  """
  calls = {}
  for name, config in _CONFIGS.items():
    model = _model(**config)
    calls['reference', name] = (model, _params(model, 1), random_batch(0))
    model = _model(mask_empty_slots=False, **config)
    params, inputs = _params(model, 3), random_batch(2)
    calls['empty_in_softmax', name] = (model, params, inputs)
    calls['empty_masked', name] = (_model(**config), params, inputs)
  for name in ('sentence_bow', 'window_position_te'):
    model = _model(**_CONFIGS[name])
    calls['padding', name] = (model, _params(model, 5), random_batch(4))
  return calls


_forwards = qa_testing.forwards_in_one_program(_forward_calls)


def _forward(key):
  """`(params, inputs, logits, aux, losses)` of one of `_forward_calls`."""
  calls, outputs = _forwards()
  _, params, inputs = calls[key]
  out = outputs[key]
  return params, inputs, out.logits, out.aux, out.losses


_window_memories = jax.jit(kvmemnn.window_memories,
                           static_argnames='window_size')


_CONFIGS = {
    'sentence_bow': dict(memory_mode='sentence', encoding='bow',
                         temporal_encoding=False),
    'sentence_position_te': dict(memory_mode='sentence', encoding='position',
                                 temporal_encoding=True),
    'window_bow': dict(memory_mode='window', encoding='bow',
                       temporal_encoding=False),
    'window_position_te': dict(memory_mode='window', encoding='position',
                               temporal_encoding=True),
    'sentence_centered_te': dict(memory_mode='sentence',
                                 encoding='position_centered',
                                 temporal_encoding=True),
}


class ReferenceTest(parameterized.TestCase):

  @parameterized.named_parameters(*((name, name) for name in _CONFIGS))
  def test_forward_matches_reference(self, name):
    config = _CONFIGS[name]
    params, inputs, logits, aux, losses = _forward(('reference', name))
    self.assertEqual(dict(losses), {})  # no objective of its own
    self.assertEqual(logits.shape, (3, _V))
    self.assertEqual(aux['attention'].shape, (3, _K, _M))
    window = config['memory_mode'] == 'window'
    if window:
      self.assertEqual(aux['window_attention'].shape, (3, _K, _M * _L))
      np.testing.assert_allclose(
          aux['attention'],
          np.asarray(aux['window_attention']).reshape(3, _K, _M, _L).sum(-1),
          rtol=1e-6)
    for b in range(3):
      expected, attention = np_kvmemnn(
          params, inputs['story'][b], inputs['query'][b],
          mode=config['memory_mode'], encoding=config['encoding'],
          temporal=config['temporal_encoding'])
      np.testing.assert_allclose(logits[b], expected, rtol=1e-4, atol=1e-5)
      np.testing.assert_allclose(
          aux['window_attention' if window else 'attention'][b], attention,
          rtol=1e-4, atol=1e-6)
    sums = np.asarray(aux['attention']).sum(-1)
    np.testing.assert_allclose(sums[:-1], 1.0, rtol=1e-5)
    np.testing.assert_array_equal(sums[-1], 0.0)  # the all-empty story


class EmptySlotsInSoftmaxTest(parameterized.TestCase):
  """`mask_empty_slots=False`: empty slots as zero keys and values."""

  @parameterized.named_parameters(*((name, name) for name in _CONFIGS))
  def test_matches_reference(self, name):
    config = _CONFIGS[name]
    params, inputs, logits, aux, _ = _forward(('empty_in_softmax', name))
    masked = _forward(('empty_masked', name))[2]
    self.assertFalse(np.allclose(logits, masked, atol=1e-3))
    window = config['memory_mode'] == 'window'
    for b in range(3):
      expected, attention = np_kvmemnn(
          params, inputs['story'][b], inputs['query'][b],
          mode=config['memory_mode'], encoding=config['encoding'],
          temporal=config['temporal_encoding'], mask_empty=False)
      np.testing.assert_allclose(logits[b], expected, rtol=1e-4, atol=1e-5)
      np.testing.assert_allclose(
          aux['window_attention' if window else 'attention'][b], attention,
          rtol=1e-4, atol=1e-6)
    # Every story's attention, the all-empty one's too, sums to one.
    np.testing.assert_allclose(np.asarray(aux['attention']).sum(-1), 1.0,
                               rtol=1e-5)


class WindowMemoriesTest(parameterized.TestCase):

  def test_hand_example(self):
    story = jnp.array([[5, 6, 7, 0], [8, 0, 0, 0]])
    keys, values = _window_memories(story, window_size=3)
    np.testing.assert_array_equal(keys, [
        [0, 5, 6], [5, 6, 7], [6, 7, 0], [7, 0, 0],
        [0, 8, 0], [8, 0, 0], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(values, [5, 6, 7, 0, 8, 0, 0, 0])

  def test_width_one_and_five(self):
    story = jnp.array([[5, 6, 7]])
    keys, values = _window_memories(story, window_size=1)
    np.testing.assert_array_equal(keys, [[5], [6], [7]])
    np.testing.assert_array_equal(values, [5, 6, 7])
    keys, _ = _window_memories(story, window_size=5)
    np.testing.assert_array_equal(keys, [
        [0, 0, 5, 6, 7], [0, 5, 6, 7, 0], [5, 6, 7, 0, 0]])

  @parameterized.parameters(0, 2, 4)
  def test_even_width_raises(self, width):
    with self.assertRaisesRegex(ValueError, 'window_size'):
      kvmemnn.window_memories(jnp.ones((2, 3), jnp.int32),
                              window_size=width)


class ParametersTest(parameterized.TestCase):

  def test_shapes_and_init(self):
    model = kvmemnn.KVMemNN(vocab_size=60)
    params = jax.jit(model.init)(jax.random.key(0), random_batch(0))
    self.assertEqual(jax.tree.map(jnp.shape, params['params']), {
        'embedding': (60, 40), 'projection': (40, 50),
        'hop_maps': (3, 50, 50), 'output_embedding': (60, 50)})
    self.assertAlmostEqual(float(np.std(params['params']['hop_maps'])),
                           0.1, delta=0.005)

  def test_temporal_shapes(self):
    params = _params(_model(temporal_encoding=True), 0)['params']
    self.assertEqual(params['key_temporal'].shape, (4, _F))
    self.assertEqual(params['value_temporal'].shape, (4, _F))

  @parameterized.parameters(dict(memory_mode='document'),
                            dict(encoding='pe'),
                            dict(memory_mode='window', window_size=2))
  def test_bad_option_raises(self, **kw):
    with self.assertRaisesRegex(ValueError, list(kw)[-1]):
      jax.eval_shape(_model(**kw).init, jax.random.key(0), random_batch(0))


class PaddingAndSizesTest(parameterized.TestCase):

  @parameterized.parameters('sentence_bow', 'window_position_te')
  def test_empty_slots_and_padding_words_change_nothing(self, name):
    qa_testing.assert_padding_invariant_of(_forwards, ('padding', name),
                                           _jitted, _M, _L)

  def test_same_params_for_other_batch_memory_and_sentence_sizes(self):
    model = _model(**_CONFIGS['sentence_bow'])
    params = jax.jit(model.init)(jax.random.key(0),
                                 random_batch(0, 1, 2, 3, empty_last=False))
    inputs = random_batch(1, batch=3, num_slots=_M + 3, length=_L + 2)
    logits, aux, _ = _apply(model, params, inputs)
    self.assertEqual(logits.shape, (3, _V))
    self.assertEqual(aux['attention'].shape, (3, _K, _M + 3))
    for b in range(3):
      one = {k: v[b:b + 1] for k, v in inputs.items()}
      single, _, _ = _apply(model, params, one)
      np.testing.assert_allclose(single[0], logits[b], rtol=1e-5, atol=1e-6)


class GradientTest(parameterized.TestCase):

  _NAMES = ('sentence_bow', 'window_position_te')

  @classmethod
  @functools.cache
  def _value_and_grad(cls):
    """`(params, fn)`, `fn(params) = {name: (loss, grads)}`.

    One program for both configs (see `qa_testing.apply_together`).
    """
    inputs = random_batch(6)  # includes an all-empty story
    answers = jnp.array([1, 2, 3])
    models = {name: _model(**_CONFIGS[name]) for name in cls._NAMES}
    params = {name: _params(model, 7) for name, model in models.items()}

    def loss(params, model):
      logits = model.apply(params, inputs, train=True).logits
      return -jnp.mean(jnp.take_along_axis(
          jax.nn.log_softmax(logits), answers[:, None], axis=1))

    return params, jax.jit(lambda params: {
        name: jax.value_and_grad(loss)(params[name], model)
        for name, model in models.items()})

  @parameterized.parameters(*_NAMES)
  def test_gradients_finite(self, name):
    params, value_and_grad = self._value_and_grad()
    with jax.debug_nans(True):
      value, grads = value_and_grad(params)[name]
    self.assertTrue(np.isfinite(value))
    for g in jax.tree.leaves(grads):
      self.assertTrue(np.all(np.isfinite(g)))
      self.assertGreater(float(np.max(np.abs(g))), 0.0)


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
