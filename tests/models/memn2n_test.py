"""Tests for `memax.models.memn2n` (Sukhbaatar et al. 2015).

The forward pass is checked against a NumPy reference of the paper's
equations (float64, explicit loops) that uses the module's own parameters;
then padding invariance, free batch / memory / sentence sizes, linear start,
random noise and finite gradients.
"""

import functools
import itertools

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np
import qa_testing

from memax.models import memn2n

_V, _D, _K = 13, 6, 3  # vocabulary, embedding size, hops
_M, _L = 6, 5  # memory slots, words per sentence


# --- NumPy reference: one example, float64, from sec. 2.1-2.2 and 4.1. ---


def np_encode(table, words, encoding, length=None):
  """m = sum_j l_j * A x_j over the real (left-aligned) words.

  J is the number of real words, or `length` (the authors' code: the padded
  length, fixed for every sentence).
  """
  d = table.shape[1]
  real = int(np.sum(np.asarray(words) != 0))
  J = real if length is None else length  # pylint: disable=invalid-name
  out = np.zeros(d)
  for j in range(1, real + 1):
    for k in range(1, d + 1):
      l = qa_testing.np_word_weight(j, k, J, d, encoding)
      out[k - 1] += l * table[words[j - 1], k - 1]
  return out


def np_time_weight(encoding, length, d):
  """The code's weight of the time word, at the last position J."""
  return np.array([qa_testing.np_word_weight(length, k, length, d, encoding)
                   for k in range(1, d + 1)])


def np_memn2n(params, story, query, *, tying, encoding, temporal,
              temporal_size, linear=False, padded=False, mask_empty=True):
  """Logits `[V]` and attention `[K, M]` for one left-aligned example.

  `padded`: the authors' code's PE, `J` = padded length (+ 1 for the time
  word, whose embedding gets the last position's weight). `mask_empty=False`:
  the authors' code's memory, where empty slots are zero vectors that stay in
  the softmax (score 0, nothing read).
  """
  p = {k: np.asarray(v, np.float64) for k, v in params['params'].items()}
  if tying == 'adjacent':
    emb = p['embeddings']
    hops = emb.shape[0] - 1
    a_tables = [emb[k] for k in range(hops)]  # A^k = C^{k-1}
    c_tables = [emb[k + 1] for k in range(hops)]
    b_table, w = emb[0], emb[hops]  # B = A^1, W^T = C^K
    h = None
    if temporal:
      ta = [p['temporal'][k] for k in range(hops)]
      tc = [p['temporal'][k + 1] for k in range(hops)]
  else:
    hops = _K
    a_tables, c_tables = [p['A']] * hops, [p['C']] * hops
    b_table, w, h = p['B'], p['W'], p['H']
    if temporal:
      ta, tc = [p['T_A']] * hops, [p['T_C']] * hops
  num_slots = story.shape[0]
  real = [i for i in range(num_slots) if np.any(story[i] != 0)]
  n = len(real)
  length = None
  if padded:
    length = story.shape[1] + int(temporal)
    time_weight = (np_time_weight(encoding, length, b_table.shape[1])
                   if temporal else None)
  u = np_encode(b_table, query, encoding, length)
  attention = np.zeros((hops, num_slots))
  for k in range(hops):
    m, c = {}, {}
    for i in real:
      m[i] = np_encode(a_tables[k], story[i], encoding, length)
      c[i] = np_encode(c_tables[k], story[i], encoding, length)
      if temporal:
        age = min(n - 1 - i, temporal_size - 1)  # most recent: age 0
        tw = time_weight if padded else 1.0
        m[i] = m[i] + tw * ta[k][age]
        c[i] = c[i] + tw * tc[k][age]
    scores = {i: float(np.dot(u, m[i])) for i in real}
    if not mask_empty:
      scores.update({i: 0.0 for i in range(num_slots) if i not in real})
    if linear:
      probs = scores
    elif scores:
      top = max(scores.values())
      total = sum(np.exp(s - top) for s in scores.values())
      probs = {i: np.exp(s - top) / total for i, s in scores.items()}
    else:
      probs = {}
    o = np.zeros_like(u)
    for i in scores:
      attention[k, i] = probs[i]
      o += probs[i] * c.get(i, 0.0)
    u = (u if h is None else h @ u) + o  # u^{k+1}
  return w @ u, attention


def random_batch(seed, batch=3, num_slots=_M, length=_L, empty_last=True):
  return qa_testing.random_batch(seed, batch, num_slots, length, _V,
                                 empty_last)


def _model(**kw):
  kw = dict(dict(vocab_size=_V, embedding_size=_D, num_hops=_K,
                 temporal_size=4, random_noise=0.5), **kw)
  return memn2n.MemN2N(**kw)


def _params(model, seed):
  return qa_testing.random_params(model, seed, _V)


_jitted = qa_testing.jitted


_TYINGS = ('adjacent', 'layerwise')
_ENCODINGS = ('position', 'position_centered', 'bow')


def _forward_calls():
  """The forward passes that the value tests read, on the default shapes.

  `{key: (model, params, inputs, kwargs)}`; each test reads its own keys.
  """
  calls = {}
  for tying, encoding in itertools.product(_TYINGS, _ENCODINGS):
    model = _model(weight_tying=tying, encoding=encoding)
    calls['forward', tying, encoding] = (model, _params(model, 1),
                                         random_batch(0), {})
  for encoding, temporal in itertools.product(
      ('position', 'position_centered'), (True, False)):
    model = _model(encoding=encoding, position_length='padded',
                   temporal_encoding=temporal)
    params, inputs = _params(model, 5), random_batch(4)
    calls['padded', encoding, temporal] = (model, params, inputs, {})
    calls['sentence_level', encoding, temporal] = (
        _model(encoding=encoding, temporal_encoding=temporal), params, inputs,
        {})
  model = _model(encoding='bow', temporal_encoding=False)
  calls['without_temporal'] = (model, _params(model, 3), random_batch(2), {})
  for tying, linear in itertools.product(_TYINGS, (False, True)):
    model = _model(weight_tying=tying, mask_empty_slots=False)
    params, inputs = _params(model, 9), random_batch(8)
    calls['empty_in_softmax', tying, linear] = (model, params, inputs,
                                                {'linear': linear})
  for mask_empty in (False, True):
    model = _model(mask_empty_slots=mask_empty)
    calls['attention_sums', mask_empty] = (model, _params(model, 7),
                                           random_batch(6), {})
  for tying in _TYINGS:
    model = _model(weight_tying=tying)
    calls['padding', tying] = (model, _params(model, 5), random_batch(4), {})
  inputs = random_batch(12, empty_last=False)
  model = _model()
  params = _params(model, 13)
  calls['noise', 'eval'] = (model, params, inputs, {})
  for seed in (14, 15):
    calls['noise', 'train', seed] = (
        model, params, inputs,
        {'train': True, 'rngs': {'noise': jax.random.key(seed)}})
  for name, kw in (('zero_noise', dict(random_noise=0.0)),
                   ('no_temporal', dict(temporal_encoding=False))):
    model = _model(**kw)
    params = _params(model, 16)
    calls[name, 'eval'] = (model, params, inputs, {})
    calls[name, 'train'] = (
        model, params, inputs,
        {'train': True, 'rngs': {'noise': jax.random.key(17)}})
  return calls


_forwards = qa_testing.forwards_in_one_program(_forward_calls)


def _forward(key):
  """`(model, params, inputs, logits, aux)` of one of `_forward_calls`."""
  calls, outputs = _forwards()
  model, params, inputs, _ = calls[key]
  out = outputs[key]
  assert not out.losses
  return model, params, inputs, out.logits, out.aux


@functools.cache
def _linear_switch():
  """`(params, inputs, apply)`: both tyings, a traced `linear` flag.

  `apply(params, inputs, linear) = {tying: ModelOutput}`, one jitted
  function for both tyings (one program, see `qa_testing.apply_together`); the
  parameters as those of the `'empty_in_softmax'` forward passes.
  """
  models = {tying: _model(weight_tying=tying) for tying in _TYINGS}
  params = {tying: _params(model, 9) for tying, model in models.items()}
  apply = jax.jit(lambda params, inputs, linear: {
      tying: model.apply(params[tying], inputs, linear=linear)
      for tying, model in models.items()})
  return params, random_batch(8), apply


class ReferenceTest(parameterized.TestCase):

  @parameterized.product(tying=['adjacent', 'layerwise'],
                         encoding=['position', 'position_centered', 'bow'])
  def test_forward_matches_reference(self, tying, encoding):
    _, params, inputs, logits, aux = _forward(('forward', tying, encoding))
    self.assertEqual(logits.shape, (3, _V))
    self.assertEqual(aux['attention'].shape, (3, _K, _M))
    for b in range(3):
      expected, attention = np_memn2n(
          params, inputs['story'][b], inputs['query'][b], tying=tying,
          encoding=encoding, temporal=True, temporal_size=4)
      np.testing.assert_allclose(logits[b], expected, rtol=1e-4, atol=1e-5)
      np.testing.assert_allclose(aux['attention'][b], attention, rtol=1e-4,
                                 atol=1e-6)

  @parameterized.product(encoding=['position', 'position_centered'],
                         temporal=[True, False])
  def test_padded_position_length_matches_reference(self, encoding,
                                                    temporal):
    _, params, inputs, logits, aux = _forward(('padded', encoding, temporal))
    sentence_level = _forward(('sentence_level', encoding, temporal))[3]
    self.assertFalse(np.allclose(logits, sentence_level, atol=1e-3))
    for b in range(3):
      expected, attention = np_memn2n(
          params, inputs['story'][b], inputs['query'][b], tying='adjacent',
          encoding=encoding, temporal=temporal, temporal_size=4, padded=True)
      np.testing.assert_allclose(logits[b], expected, rtol=1e-4, atol=1e-5)
      np.testing.assert_allclose(aux['attention'][b], attention, rtol=1e-4,
                                 atol=1e-6)

  def test_without_temporal_encoding_matches_reference(self):
    _, params, inputs, logits, _ = _forward('without_temporal')
    self.assertNotIn('temporal', params['params'])
    for b in range(3):
      expected, _ = np_memn2n(
          params, inputs['story'][b], inputs['query'][b], tying='adjacent',
          encoding='bow', temporal=False, temporal_size=4)
      np.testing.assert_allclose(logits[b], expected, rtol=1e-4, atol=1e-5)


class EmptySlotsInSoftmaxTest(parameterized.TestCase):
  """`mask_empty_slots=False`: the authors' code's memory of zero vectors."""

  @parameterized.product(tying=['adjacent', 'layerwise'], linear=[False, True])
  def test_matches_reference(self, tying, linear):
    _, params, inputs, logits, aux = _forward(
        ('empty_in_softmax', tying, linear))
    masked_params, masked_inputs, apply = _linear_switch()  # the same
    jax.tree.map(np.testing.assert_array_equal,
                 (masked_params[tying], masked_inputs), (params, inputs))
    masked = np.asarray(apply(masked_params, masked_inputs,
                              jnp.bool_(linear))[tying].logits)
    # With the softmax, the empty slots take weight and change the answer;
    # a linear start reads nothing from them either way.
    self.assertEqual(np.allclose(logits, masked, atol=1e-5), linear)
    for b in range(3):
      expected, attention = np_memn2n(
          params, inputs['story'][b], inputs['query'][b], tying=tying,
          encoding='position', temporal=True, temporal_size=4,
          linear=linear, mask_empty=False)
      np.testing.assert_allclose(logits[b], expected, rtol=1e-4, atol=1e-5)
      np.testing.assert_allclose(aux['attention'][b], attention, rtol=1e-4,
                                 atol=1e-6)

  def test_attention_sums_to_one_over_all_slots(self):
    attention = _forward(('attention_sums', False))[4]['attention']
    np.testing.assert_allclose(attention.sum(-1), 1.0, rtol=1e-5)
    # The all-empty story attends uniformly to its zero slots.
    np.testing.assert_allclose(attention[-1], 1.0 / _M, rtol=1e-5)


class ParametersTest(parameterized.TestCase):

  def test_adjacent_shapes_and_init(self):
    model = memn2n.MemN2N(vocab_size=50, embedding_size=40)
    params = jax.jit(model.init)(jax.random.key(0), random_batch(0))
    self.assertEqual(jax.tree.map(jnp.shape, params['params']), {
        'embeddings': (4, 50, 40), 'temporal': (4, 50, 40)})
    # Sec. 4.2: weights drawn from N(0, 0.1^2).
    embeddings = np.asarray(params['params']['embeddings'])
    self.assertAlmostEqual(float(np.std(embeddings)), 0.1, delta=0.005)
    self.assertAlmostEqual(float(np.mean(embeddings)), 0.0, delta=0.005)

  def test_layerwise_shapes(self):
    params = _params(_model(weight_tying='layerwise'), 0)['params']
    self.assertEqual(jax.tree.map(jnp.shape, params), {
        'A': (_V, _D), 'B': (_V, _D), 'C': (_V, _D), 'W': (_V, _D),
        'H': (_D, _D), 'T_A': (4, _D), 'T_C': (4, _D)})

  @parameterized.parameters(dict(weight_tying='tied'), dict(encoding='pe'))
  def test_unknown_option_raises(self, **kw):
    with self.assertRaisesRegex(ValueError, next(iter(kw))):
      jax.eval_shape(_model(**kw).init, jax.random.key(0), random_batch(0))


class PaddingTest(parameterized.TestCase):

  @parameterized.parameters('adjacent', 'layerwise')
  def test_empty_slots_and_padding_words_change_nothing(self, tying):
    qa_testing.assert_padding_invariant_of(_forwards, ('padding', tying),
                                           _jitted, _M, _L)

  def test_attention_sums_to_one_over_real_slots(self):
    sums = _forward(('attention_sums', True))[4]['attention'].sum(-1)
    np.testing.assert_allclose(sums[:-1], 1.0, rtol=1e-5)
    np.testing.assert_array_equal(sums[-1], 0.0)  # the all-empty story


class SizesTest(absltest.TestCase):

  def test_same_params_for_other_batch_memory_and_sentence_sizes(self):
    model = _model()
    params = jax.jit(model.init)(jax.random.key(0),
                                 random_batch(0, 1, 2, 3, empty_last=False))
    inputs = random_batch(1, batch=3, num_slots=_M + 3, length=_L + 2)
    apply = _jitted(model)
    out = apply(params, inputs)
    assert not out.losses
    logits, aux = np.asarray(out.logits), jax.tree.map(np.asarray, out.aux)
    self.assertEqual(logits.shape, (3, _V))
    self.assertEqual(aux['attention'].shape, (3, _K, _M + 3))
    for b in range(3):
      one = {k: v[b:b + 1] for k, v in inputs.items()}
      single = np.asarray(apply(params, one).logits)
      np.testing.assert_allclose(single[0], logits[b], rtol=1e-5, atol=1e-6)


class LinearStartTest(parameterized.TestCase):

  @parameterized.parameters('adjacent', 'layerwise')
  def test_linear_is_a_traced_switch(self, tying):
    all_params, inputs, apply = _linear_switch()  # one program, both forms
    params = all_params[tying]
    for linear in (True, False):
      out = apply(all_params, inputs, jnp.bool_(linear))[tying]
      logits, aux = np.asarray(out.logits), jax.tree.map(np.asarray, out.aux)
      for b in range(3):
        expected, attention = np_memn2n(
            params, inputs['story'][b], inputs['query'][b], tying=tying,
            encoding='position', temporal=True, temporal_size=4,
            linear=linear)
        np.testing.assert_allclose(logits[b], expected, rtol=1e-4,
                                   atol=1e-4)
        np.testing.assert_allclose(aux['attention'][b], attention,
                                   rtol=1e-4, atol=1e-5)
    self.assertEqual(apply._cache_size(), 1)


class RandomNoiseTest(absltest.TestCase):

  def test_train_differs_from_eval_and_is_finite(self):
    evaluated = _forward(('noise', 'eval'))[3]
    _, _, _, trained, aux = _forward(('noise', 'train', 14))
    again = _forward(('noise', 'train', 15))[3]
    self.assertTrue(np.all(np.isfinite(trained)))
    self.assertFalse(np.allclose(trained, evaluated))
    self.assertFalse(np.allclose(trained, again))
    np.testing.assert_allclose(np.asarray(aux['attention']).sum(-1), 1.0,
                               rtol=1e-5)

  def test_no_effect_without_noise_or_temporal_encoding(self):
    for name in ('zero_noise', 'no_temporal'):
      evaluated = _forward((name, 'eval'))[3]
      trained = _forward((name, 'train'))[3]
      np.testing.assert_allclose(trained, evaluated, rtol=1e-6,
                                 err_msg=name)


class GradientTest(parameterized.TestCase):

  @staticmethod
  @functools.cache
  def _value_and_grad():
    """`(params, fn)`, `fn(params, linear) = {tying: (loss, grads)}`.

    One program for both tyings (see `qa_testing.apply_together`).
    """
    inputs = random_batch(18)  # includes an all-empty story
    answers = jnp.array([1, 2, 3])
    models = {tying: _model(weight_tying=tying) for tying in _TYINGS}
    params = {tying: _params(model, 19) for tying, model in models.items()}

    def loss(params, linear, model):
      logits = model.apply(params, inputs, train=True, linear=linear,
                           rngs={'noise': jax.random.key(20)}).logits
      return -jnp.mean(jnp.take_along_axis(
          jax.nn.log_softmax(logits), answers[:, None], axis=1))

    return params, jax.jit(lambda params, linear: {
        tying: jax.value_and_grad(loss)(params[tying], linear, model)
        for tying, model in models.items()})

  @parameterized.parameters('adjacent', 'layerwise')
  def test_gradients_finite(self, tying):
    params, grad_fn = self._value_and_grad()
    for linear in (True, False):  # linear, then softmax attention
      with jax.debug_nans(True):
        value, grads = grad_fn(params, jnp.bool_(linear))[tying]
      self.assertTrue(np.isfinite(value))
      for g in jax.tree.leaves(grads):
        self.assertTrue(np.all(np.isfinite(g)))
        self.assertGreater(float(np.max(np.abs(g))), 0.0)


# --- The dense (count / score-space) formulation equals the gather one. ---


def gather_memn2n(model, params, inputs, *, linear=False):
  """The model as gathers of `[M, L, d]` word vectors (the original form).

  Same parameters and inputs as `model` (no random noise): each memory is
  `sum_j l_j * A x_j` from `memn2n.encode_sentence`, plus `T_A(age)`.
  Returns `(logits [B, V], attention [B, K, M])`.
  """
  from memax.ops import attention  # pylint: disable=g-import-not-at-top
  p = params['params']
  hops, size = model.num_hops, model.embedding_size
  temporal = model.temporal_encoding
  if model.weight_tying == 'adjacent':
    tables = p['embeddings']
    query_table, answer, hop_map = tables[0], tables[hops], None
    in_tables = [tables[k] for k in range(hops)]
    out_tables = [tables[k + 1] for k in range(hops)]
    if temporal:
      in_time = [p['temporal'][k] for k in range(hops)]
      out_time = [p['temporal'][k + 1] for k in range(hops)]
  else:
    query_table, answer, hop_map = p['B'], p['W'], p['H']
    in_tables, out_tables = [p['A']] * hops, [p['C']] * hops
    if temporal:
      in_time, out_time = [p['T_A']] * hops, [p['T_C']] * hops
  story, query = inputs['story'], inputs['query']
  slot_mask = jnp.any(story != 0, axis=-1)
  age = jnp.minimum(jax.vmap(attention.memory_age)(slot_mask),
                    model.temporal_size - 1)
  word_weights, time_weights = None, None
  if model.position_length == 'padded':
    word_weights, time_weights = memn2n.padded_position_weights(
        model.encoding, story.shape[-1], size, time_word=temporal)
  encode = lambda table, words: memn2n.encode_sentence(
      table, words, encoding=model.encoding, weights=word_weights)
  encode_story = jax.vmap(encode, in_axes=(None, 0))

  def example(story, query, mask, age):
    u = encode(query_table, query)
    attend = mask if model.mask_empty_slots else jnp.ones_like(mask)
    weights = []
    for k in range(hops):
      memory = encode_story(in_tables[k], story)
      output = encode_story(out_tables[k], story)
      if temporal:
        t_in, t_out = in_time[k][age], out_time[k][age]
        if time_weights is not None:
          t_in, t_out = t_in * time_weights, t_out * time_weights
        memory, output = memory + t_in, output + t_out
      if not model.mask_empty_slots:
        memory, output = memory * mask[:, None], output * mask[:, None]
      prob = attention.memory_attention(memory, u, attend, linear=linear)
      u = (u if hop_map is None else hop_map @ u) + attention.memory_read(
          output, prob)
      weights.append(prob)
    return answer @ u, jnp.stack(weights)

  return jax.vmap(example)(story, query, slot_mask, age)


def _logits_and_attention(out):
  return out.logits, out.aux['attention']


# Each encoding once, both tyings, and in every case both position lengths,
# temporal encoding on and off and both empty-slot treatments (linear
# attention where temporal encoding meets layer-wise tying).
_DENSE_CASES = (
    ('position', 'adjacent', (('sentence', True, True),
                              ('padded', False, False))),
    ('position_centered', 'layerwise', (('padded', True, False),
                                        ('sentence', False, True))),
    ('bow', 'layerwise', (('sentence', True, True),
                          ('padded', False, False))),
)


@functools.cache
def _dense_and_gathered():
  """Gradients and outputs of both formulations for every case.

  `{(encoding, tying, position_length, temporal, mask_empty):
  ((grads, (logits, att)), (ref_grads, (ref_logits, ref_att)))}`, all in
  one program (see `qa_testing.apply_together`).
  """
  models, params = {}, {}
  for encoding, tying, cases in _DENSE_CASES:
    for position_length, temporal, mask_empty in cases:
      key = (encoding, tying, position_length, temporal, mask_empty)
      models[key] = _model(weight_tying=tying, encoding=encoding,
                           position_length=position_length,
                           temporal_encoding=temporal,
                           mask_empty_slots=mask_empty)
      params[key] = _params(models[key], 32)
  inputs = random_batch(31)

  def both(model, params, cotangent, linear):
    kw = {'linear': True} if linear else {}

    def dense(params):
      logits, att = _logits_and_attention(model.apply(params, inputs, **kw))
      return jnp.sum(logits * cotangent), (logits, att)

    def gathered(params):
      logits, att = gather_memn2n(model, params, inputs, linear=linear)
      return jnp.sum(logits * cotangent), (logits, att)

    return (jax.grad(dense, has_aux=True)(params),
            jax.grad(gathered, has_aux=True)(params))

  @jax.jit
  def run(params):
    cotangent = jax.random.normal(jax.random.key(33), (3, _V))
    return [both(models[key], params[key], cotangent,
                 linear=key[3] and key[1] == 'layerwise') for key in models]

  return dict(zip(models, run(params)))


class DenseFormulationTest(parameterized.TestCase):
  """The model's matrix-product formulation is the gather formulation."""

  @parameterized.parameters(*_DENSE_CASES)
  def test_values_and_gradients_match_gathers(self, encoding, tying, cases):
    for position_length, temporal, mask_empty in cases:
      (grads, (logits, att)), (ref_grads, (ref_logits, ref_att)) = (
          _dense_and_gathered()[encoding, tying, position_length, temporal,
                                mask_empty])
      msg = f'{position_length=} {temporal=} {mask_empty=}'
      _assert_close(logits, ref_logits, 1e-5, msg)
      _assert_close(att, ref_att, 1e-5, msg)
      for name in ref_grads['params']:
        _assert_close(grads['params'][name], ref_grads['params'][name], 1e-5,
                      f'{name} {msg}')


class CompactionTest(parameterized.TestCase):
  """`slots_per_example`: the hops over the batch's non-empty slots only."""

  _B, _SLOTS = 4, 8
  # Fillers in the list (a capacity above the count) and an overflowing
  # batch; the second model (layer-wise, centred PE, empty slots in the
  # softmax) with fillers only: the fallback is the path
  # DenseFormulationTest checks.
  _CASES = (('position', 'adjacent', True, (1, -1)),
            ('position_centered', 'layerwise', False, (1,)))

  @classmethod
  def _inputs(cls, seed):
    """Empty slots anywhere in the story, not only after the real ones."""
    inputs = random_batch(seed, batch=cls._B, num_slots=cls._SLOTS)
    rng = np.random.default_rng(seed)
    story = np.stack([s[rng.permutation(cls._SLOTS)]
                      for s in inputs['story']])
    return {'story': story, 'query': inputs['query']}

  @classmethod
  @functools.cache
  def _grads(cls):
    """`(count, fits, {(encoding, per_example): (grads, (logits, att))})`.

    Every model of `_CASES` (`slots_per_example` 0, i.e. all slots, and the
    case's capacities) on `_inputs(41)`, in one program (see
    `qa_testing.apply_together`).
    """
    inputs = cls._inputs(41)
    count = int(np.sum(np.any(inputs['story'] != 0, axis=-1)))
    fits = -(-count // cls._B)  # the least capacity that holds them
    models, params = {}, {}
    for encoding, tying, mask_empty, extra in cls._CASES:
      kw = dict(weight_tying=tying, encoding=encoding,
                mask_empty_slots=mask_empty)
      params[encoding] = _params(_model(**kw), 43)
      for per_example in (0,) + tuple(fits + e for e in extra):
        models[encoding, per_example] = _model(
            slots_per_example=per_example, **kw)

    def grad(model, params):
      def loss(params):
        out = model.apply(params, inputs, train=True,
                          rngs={'noise': jax.random.key(5)})
        return jnp.sum(jnp.sin(out.logits)), (out.logits,
                                              out.aux['attention'])
      return jax.grad(loss, has_aux=True)(params)

    run = jax.jit(lambda params: [grad(model, params[key[0]])
                                  for key, model in models.items()])
    return count, fits, dict(zip(models, run(params)))

  @parameterized.parameters(*_CASES)
  def test_fitting_and_overflowing_batches_match_all_slots(
      self, encoding, tying, mask_empty, extra):
    del tying, mask_empty  # in _CASES
    count, fits, runs = self._grads()
    self.assertGreater(fits - 1, 0)
    self.assertLess(self._B * (fits + 1), self._B * self._SLOTS)
    grads, (logits, att) = runs[encoding, 0]
    for per_example in (fits + e for e in extra):
      got_grads, (got_logits, got_att) = runs[encoding, per_example]
      msg = f'{per_example=} for {count} slots'
      _assert_close(got_logits, logits, 1e-5, msg)
      _assert_close(got_att, att, 1e-5, msg)
      for name in grads['params']:
        _assert_close(got_grads['params'][name], grads['params'][name],
                      1e-5, f'{name} {msg}')

  def test_members_take_one_branch_and_keep_their_values(self):
    """Under vmap one member's overflow sends all to the all-slots branch."""
    small, large = self._inputs(41), self._inputs(44)
    small['story'][:, 2:] = 0  # at most 2 slots per example: fits in 2.
    large['story'][:, :, 0] = 1  # every slot real: overflows.
    model = _model(slots_per_example=2)
    params = _params(model, 43)
    apply = lambda inputs: model.apply(params, inputs).logits
    both = jax.tree.map(lambda a, b: np.stack([a, b]), small, large)
    eqns = jax.make_jaxpr(jax.vmap(apply))(both).eqns
    self.assertIn('cond', [e.primitive.name for e in eqns],
                  'a batched predicate turns the cond into both branches')
    got = np.asarray(jax.jit(jax.vmap(apply))(both))
    alone = jax.jit(apply)
    _assert_close(got[0], alone(small), 1e-5, 'fitting member')
    _assert_close(got[1], alone(large), 1e-5, 'overflowing member')


def _assert_close(actual, desired, rtol, msg):
  """Equal up to float32 rounding, relative to the array's scale."""
  scale = float(np.max(np.abs(desired))) or 1.0
  np.testing.assert_allclose(actual, desired, rtol=rtol,
                             atol=rtol * scale, err_msg=msg)


class HelpersTest(absltest.TestCase):
  """The row-scaling op with its own gradient, the row dot products, and the
  products with chosen layouts."""

  def test_scale_rows_gradient(self):

    @jax.jit  # one program rather than one per operation
    def ours_and_references():
      values = jax.random.normal(jax.random.key(0), (5, 6))
      p = jax.random.normal(jax.random.key(1), (5,))
      weights = jax.random.normal(jax.random.key(2), (5, 6))
      loss = lambda f, p: jnp.sum(jnp.sin(f(values, p)) * weights)
      reference = lambda v, p: v * p[:, None]
      return ((jax.grad(loss, argnums=1)(memn2n._scale_rows, p),
               jax.grad(loss, argnums=1)(reference, p)),
              (jax.vmap(lambda a: memn2n._row_dots(a, weights))(
                  values[None])[0],
               jnp.sum(values * weights, axis=-1)))

    (grad, ref_grad), (dots, ref_dots) = ours_and_references()
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dots, ref_dots, rtol=1e-5, atol=1e-6)

  def test_layout_products_values_and_gradients(self):
    # Each product against the plain expression it stands for, with every
    # input's gradient; also under `vmap` (population members).

    @jax.jit  # one program, the random inputs included
    def ours_and_references():
      counts, queries, u = (
          jax.random.normal(jax.random.key(i), shape)
          for i, shape in enumerate([(7, 4), (4, 3), (2, 3)]))
      table = jax.random.normal(jax.random.key(3), (7, 3))
      cases = {
          'counts': (lambda c, t: memn2n._counts_product(c, t, t.T),
                     lambda c, t: c.T @ t, (counts, table)),
          'keys': (lambda t, q: memn2n._keys_product(t, t.T, q),
                   lambda t, q: t @ q.T, (table, queries)),
          'answer': (memn2n._answer_product, lambda u, a: u @ a.T,
                     (u, table)),
      }
      out = {}
      for name, (ours, reference, args) in cases.items():
        weights = jax.random.normal(jax.random.key(9),
                                    reference(*args).shape)
        loss = lambda f, *a: jnp.sum(jnp.sin(f(*a)) * weights)
        grads = lambda f: jax.grad(lambda *a: loss(f, *a), argnums=(0, 1))
        stacked = [jnp.stack([a, 2 * a]) for a in args]
        out[name] = ((ours(*args), grads(ours)(*args),
                      jax.vmap(ours)(*stacked)),
                     (reference(*args), grads(reference)(*args),
                      jax.vmap(reference)(*stacked)))
      return out

    for name, (got, want) in ours_and_references().items():
      for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=name)


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
