"""Tests for `memax.models.memnn` (Weston, Chopra & Bordes 2015).

The forward argmax chain and the margin ranking loss are checked against a
NumPy reference written from the paper's equations (float64, explicit loops)
that reads the module's parameters; then padding invariance, free batch /
memory / sentence sizes, and learning: 100 Adam steps on a generated
"X moved to Y. Where is X?" dataset, whose answer is X's latest move, so
only the write-time features can pick the right fact.
"""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np
import optax
import qa_testing

from memax.models import memnn

# Vocabulary of the generated data.
_PAD, _WHERE, _IS, _MOVED, _TO = 0, 1, 2, 3, 4
_PEOPLE = (5, 6, 7, 8)
_PLACES = (9, 10, 11, 12, 13, 14)
_V = 15


def where_is_data(seed, n, memory_size=8, min_facts=3):
  """Stories 'P moved to Y' (slot order = time), question 'where is P'.

  Returns numpy arrays in the bAbI batch layout: the answer is the place of
  P's latest move, the supporting fact is that slot.
  """
  rng = np.random.default_rng(seed)
  story = np.zeros((n, memory_size, 4), np.int32)
  query = np.zeros((n, 4), np.int32)
  answer = np.zeros((n,), np.int32)
  supporting = np.full((n, 3), -1, np.int32)
  for e in range(n):
    facts = rng.integers(min_facts, memory_size + 1)
    people = rng.choice(_PEOPLE, size=facts)
    places = rng.choice(_PLACES, size=facts)
    for t in range(facts):
      story[e, t] = [people[t], _MOVED, _TO, places[t]]
    who = people[rng.integers(facts)]
    latest = max(t for t in range(facts) if people[t] == who)
    query[e] = [_WHERE, _IS, who, _PAD]
    answer[e] = places[latest]
    supporting[e, 0] = latest
  return dict(story=story, query=query, answer=answer, supporting=supporting)


def random_inputs(seed, batch=3, memory_size=6, length=5, filled=(4, 6, 0)):
  """Random stories with empty trailing slots and padded words."""
  rng = np.random.default_rng(seed)
  story = rng.integers(1, _V, size=(batch, memory_size, length))
  story[:, :, -1] = 0
  for b in range(batch):
    story[b, filled[b % len(filled)]:] = 0
  query = rng.integers(1, _V, size=(batch, length))
  query[:, -2:] = 0
  supporting = np.full((batch, 3), -1, np.int32)
  for b in range(batch):
    kept = filled[b % len(filled)]
    if kept:
      supporting[b, :min(2, kept)] = rng.permutation(kept)[:2]
  answer = rng.integers(1, _V, size=(batch,))
  return dict(story=story.astype(np.int32), query=query.astype(np.int32),
              supporting=supporting, answer=answer.astype(np.int32),
              task=np.ones((batch,), np.int32))


# --- NumPy reference: one example, float64, written from the paper. ---


def np_bow(words, table):
  out = np.zeros(table.shape[1])
  for w in words:
    if w != 0:
      out += table[w]
  return out


def np_phi(words, params, role, ngram_sizes=(), buckets=0):
  """Bag of words plus the bags of hashed n-grams (NG) of one role."""
  out = np_bow(words, params[role])
  if role + '_ngram' not in params:  # no NG for this role
    return out
  for n in ngram_sizes:
    for i in range(len(words) - n + 1):
      gram = words[i:i + n]
      if all(w != 0 for w in gram):
        out = out + params[role + '_ngram'][qa_testing.np_ngram_id(gram,
                                                              buckets)]
  return out


class NpMemNN:
  """The paper's O and R modules, one example at a time, with explicit loops."""

  def __init__(self, params, num_hops, margin, time_features, null_memory,
               ngram_sizes=(), ngram_buckets=0, ordered_facts=False):
    self.p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    self.num_hops, self.margin = num_hops, margin
    self.time_features, self.null_memory = time_features, null_memory
    self.ngram_sizes, self.buckets = ngram_sizes, ngram_buckets
    self.ordered_facts = ordered_facts

  def phi(self, words, role):
    return np_phi(words, self.p, role, self.ngram_sizes, self.buckets)

  def r_fact(self, words, hop):
    """R's bag of a fact found by lookup `hop` (its own tables if ordered)."""
    if not self.ordered_facts:
      return self.phi(words, 'r_support')
    tables = {name: self.p[name][hop] for name in ('r_support',
                                                   'r_support_ngram')
              if name in self.p}
    return np_phi(words, tables, 'r_support', self.ngram_sizes, self.buckets)

  def g(self, u, side):
    """NL: W_2 tanh(W_1 u + b) on the input side; identity without it."""
    if side + '_hidden' not in self.p:
      return u
    hidden = np.tanh(u @ self.p[side + '_hidden']
                     + self.p[side + '_hidden_bias'])
    return hidden @ self.p[side + '_output']

  def _candidates(self, story):
    m = len(story)
    cands = [self.phi(s, 'o_memory') for s in story]
    valid = [bool(np.any(s != 0)) for s in story]
    timed = [True] * m
    if self.null_memory:
      cands.append(self.p['o_null'])
      valid.append(True)
      timed.append(False)
    return cands, valid, timed

  def _pairwise(self, x, x_time, cands, timed):
    """Sec. 3.4: P[i, j] = x . (U y_i - U y_j + sum_k f_k u_k)."""
    x = self.g(x, 'o')
    n = len(cands)
    p = np.zeros((n, n))
    for i in range(n):
      for j in range(n):
        f = [float(timed[i] and x_time < i), float(timed[j] and x_time < j),
             float(timed[i] and timed[j] and i < j)]
        diff = cands[i] - cands[j]
        for k in range(3):
          diff = diff + f[k] * self.p['o_time'][k]
        p[i, j] = x @ diff
    return p

  def _scores(self, x, x_time, cands, valid, timed):
    n = len(cands)
    if not self.time_features:
      x = self.g(x, 'o')
      return [x @ c if valid[i] else -np.inf for i, c in enumerate(cands)]
    p = self._pairwise(x, x_time, cands, timed)
    scores = []
    for i in range(n):
      if not valid[i]:
        scores.append(-np.inf)
        continue
      worst = np.inf
      for j in range(n):
        if j == i or not valid[j]:
          continue
        if timed[i] and timed[j]:
          a = p[i, j] if i < j else -p[j, i]   # older one first
        else:
          a = 0.5 * (p[i, j] - p[j, i])
        worst = min(worst, a)
      scores.append(worst)
    return scores

  def forward(self, story, query):
    """Returns (logits [V], chosen slots [K], -1 = none)."""
    m = len(story)
    cands, valid, _ = self._candidates(story)
    timed = [True] * m + ([False] if self.null_memory else [])
    x, x_time = self.phi(query, 'o_query'), m
    r = self.phi(query, 'r_query')
    chosen = []
    for k in range(self.num_hops):
      scores = self._scores(x, x_time, cands, valid, timed)
      c = int(np.argmax(scores))
      if c < m and valid[c]:
        x = x + self.phi(story[c], 'o_support')
        r = r + self.r_fact(story[c], k)
        x_time = c
        chosen.append(c)
      else:
        chosen.append(-1)
    r = self.g(r, 'r')
    logits = np.array([r @ self.p['r_answer'][w]
                       for w in range(len(self.p['r_answer']))])
    return logits, chosen

  def loss(self, story, query, supporting, answer):
    """Eqs. 6-8 / sec. 3.4 with every negative, teacher forcing."""
    m, g = len(story), self.margin
    cands, valid, timed = self._candidates(story)
    x, x_time = self.phi(query, 'o_query'), m
    r = self.phi(query, 'r_query')
    total = 0.0
    for k in range(self.num_hops):
      f = supporting[k] if k < len(supporting) else -1
      real = 0 <= f < m and valid[f]
      if not real and not self.null_memory:
        continue
      t = f if real else m
      if self.time_features:
        p = self._pairwise(x, x_time, cands, timed)
        for j in range(len(cands)):
          if valid[j] and j != t:
            total += max(0.0, g - p[t, j]) + max(0.0, g + p[j, t])
      else:
        for j in range(len(cands)):
          if valid[j] and j != t:
            gx = self.g(x, 'o')
            total += max(0.0, g - gx @ cands[t] + gx @ cands[j])
      if real:
        x = x + self.phi(story[f], 'o_support')
        r = r + self.r_fact(story[f], k)
        x_time = f
    r = self.g(r, 'r')
    scores = [r @ row for row in self.p['r_answer']]
    for w in range(len(scores)):
      if w != answer:
        total += max(0.0, g - scores[answer] + scores[w])
    return total


_CONFIGS = (
    dict(testcase_name='time_null_k2', time_features=True, null_memory=True,
         num_hops=2),
    dict(testcase_name='time_k3', time_features=True, null_memory=False,
         num_hops=3),
    dict(testcase_name='plain_null_k2', time_features=False,
         null_memory=True, num_hops=2),
    dict(testcase_name='plain_k1', time_features=False, null_memory=False,
         num_hops=1),
    # NG and NL (Weston et al. 2015); few buckets, so that hashed
    # n-grams share rows.
    dict(testcase_name='ngrams_nl_time_null_k2', time_features=True,
         null_memory=True, num_hops=2, ngram_sizes=(2, 3), ngram_buckets=5,
         hidden_size=4),
    dict(testcase_name='ngrams_nl_plain_k2', time_features=False,
         null_memory=False, num_hops=2, ngram_sizes=(3,), ngram_buckets=64,
         hidden_size=3),
    dict(testcase_name='ng_nl_answer_only', time_features=True,
         null_memory=True, num_hops=2, ngram_sizes=(2,), ngram_buckets=9,
         hidden_size=4, extend_lookups=False),
    # Each lookup's fact with its own tables in R (our addition).
    dict(testcase_name='ordered_time_null_k3', time_features=True,
         null_memory=True, num_hops=3, ordered_facts=True),
    dict(testcase_name='ordered_ngrams_nl_k2', time_features=True,
         null_memory=False, num_hops=2, ngram_sizes=(2, 3), ngram_buckets=5,
         hidden_size=4, ordered_facts=True),
)


def _reference(params, kw, margin=0.1):
  return NpMemNN(params['params'], kw['num_hops'], margin,
                 kw['time_features'], kw['null_memory'],
                 kw.get('ngram_sizes', ()), kw.get('ngram_buckets', 0),
                 kw.get('ordered_facts', False))


def _loss_fn(model, inputs):
  """params -> (losses['margin'], aux), for `jax.grad(..., has_aux=True)`."""

  def fn(params):
    out = model.apply(params, inputs, train=True)
    return out.losses['margin'], out.aux

  return fn


def _model(**kw):
  kw.setdefault('embedding_size', 6)
  return memnn.MemNN(vocab_size=_V, **kw)


def _input_shapes(inputs):
  return tuple((k, np.shape(v), np.asarray(v).dtype)
               for k, v in sorted(inputs.items()))


@functools.cache
def _param_shapes(model, input_shapes):
  """`jax.eval_shape` of `model.init` (a trace: worth keeping)."""
  inputs = {k: jax.ShapeDtypeStruct(shape, dtype)
            for k, shape, dtype in input_shapes}
  return jax.eval_shape(model.init, jax.random.key(0), inputs)


def _random_params(model, seed, std, inputs):
  """N(0, std^2) parameters with the module's structure.

  For tests whose property holds for any parameters: `jax.eval_shape` gives
  the structure without compiling `init`, whose program contains the whole
  forward pass (LearningTest and the NL gradient test use `init` itself).
  """
  shapes = _param_shapes(model, _input_shapes(inputs))
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda s: np.asarray(std * rng.normal(size=s.shape), s.dtype), shapes)


@functools.cache
def _evaluate_and_train(model):
  """`(evaluation output, training losses)` in one program per config.

  As NumPy arrays: indexing a `jax.Array` compiles a program per shape.
  """
  both = jax.jit(lambda params, inputs: (
      model.apply(params, inputs),
      model.apply(params, inputs, train=True).losses))
  return lambda params, inputs: jax.tree.map(np.asarray, both(params, inputs))


def _config_key(kw):
  return tuple(sorted(kw.items()))


@functools.cache
def _evaluate_and_train_all():
  """`_evaluate_and_train` of every config of `_CONFIGS`, one program.

  `{config key: (evaluation output, training losses)}` of
  `fn(params, inputs)`, `params` keyed by config. Compilation is most of
  this file's time, and XLA compiles each distinct fused kernel once per
  program: the configurations share many, so one program compiles about a
  third less than one per configuration (programs of other shapes share
  little: no gain).
  """
  models = {}
  for config in _CONFIGS:
    kw = {k: v for k, v in config.items() if k != 'testcase_name'}
    models[_config_key(kw)] = _model(**kw)
  both = jax.jit(lambda params, inputs: {
      key: (model.apply(params[key], inputs),
            model.apply(params[key], inputs, train=True).losses)
      for key, model in models.items()})
  return models, lambda params, inputs: jax.tree.map(
      np.asarray, both(params, inputs))


def _evaluate_and_train_any(model, params, inputs):
  """`_evaluate_and_train(model)(params, inputs)`, from the program of
  `_evaluate_and_train_all` where that program has this model and shapes
  (the other configs then run on zero parameters)."""
  models, fn = _evaluate_and_train_all()
  keys = [key for key, m in models.items() if m == model]
  if not keys or _input_shapes(inputs) != _input_shapes(random_inputs(0)):
    return _evaluate_and_train(model)(params, inputs)
  all_params = {key: jax.tree.map(lambda s: np.zeros(s.shape, s.dtype),
                                  _param_shapes(m, _input_shapes(inputs)))
                for key, m in models.items()}
  all_params[keys[0]] = params
  return fn(all_params, inputs)[keys[0]]


@functools.cache
def _reference_outputs(seed, std, input_seed):
  """`(params, inputs, outputs)` of `_evaluate_and_train_all`, by config.

  N(0, std^2) parameters from `seed` for every config, on
  `random_inputs(input_seed)`.
  """
  models, fn = _evaluate_and_train_all()
  inputs = random_inputs(input_seed)
  params = {key: _random_params(model, seed, std, inputs)
            for key, model in models.items()}
  return params, inputs, fn(params, inputs)


class ReferenceTest(parameterized.TestCase):

  @parameterized.named_parameters(*_CONFIGS)
  def test_forward_chain_matches_reference(self, **kw):
    params, inputs, outputs = _reference_outputs(1, 1.0, 0)
    params = params[_config_key(kw)]
    out, _ = outputs[_config_key(kw)]
    logits, aux = out.logits, out.aux
    self.assertEqual(dict(out.losses), {})  # no margin loss at evaluation
    ref = _reference(params, kw)
    for b in range(inputs['story'].shape[0]):
      expected, chosen = ref.forward(inputs['story'][b], inputs['query'][b])
      np.testing.assert_array_equal(aux['chosen'][b], chosen)
      np.testing.assert_allclose(logits[b], expected, rtol=1e-4, atol=1e-4)
      m = inputs['story'].shape[1]
      expected_attention = np.zeros((kw['num_hops'], m))
      for k, c in enumerate(chosen):
        if c >= 0:
          expected_attention[k, c] = 1.0
      np.testing.assert_array_equal(aux['attention'][b], expected_attention)

  @parameterized.named_parameters(*_CONFIGS)
  def test_loss_matches_reference(self, **kw):
    params, inputs, outputs = _reference_outputs(3, 0.5, 2)
    params = params[_config_key(kw)]
    _, losses = outputs[_config_key(kw)]
    ref = _reference(params, kw)
    expected = np.mean([
        ref.loss(inputs['story'][b], inputs['query'][b],
                 inputs['supporting'][b], inputs['answer'][b])
        for b in range(inputs['story'].shape[0])])
    self.assertGreater(expected, 0.0)
    np.testing.assert_allclose(losses['margin'], expected, rtol=1e-4)


_EXTENSIONS = dict(ngram_sizes=(2, 3), ngram_buckets=7, hidden_size=4)


class InterfaceTest(parameterized.TestCase):

  @parameterized.named_parameters(('plain', {}), ('ng_nl', _EXTENSIONS))
  def test_padding_changes_nothing(self, extensions):
    model = _model(**extensions)
    inputs = random_inputs(4)
    params = _random_params(model, 5, 1.0, inputs)
    out, losses = _evaluate_and_train_any(model, params, inputs)
    logits, aux = out.logits, out.aux
    padded = dict(inputs)
    padded['story'] = np.pad(inputs['story'], ((0, 0), (0, 5), (0, 3)))
    padded['query'] = np.pad(inputs['query'], ((0, 0), (0, 3)))
    pout, plosses = _evaluate_and_train_any(model, params, padded)
    plogits, paux = pout.logits, pout.aux
    np.testing.assert_allclose(plogits, logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(paux['chosen'], aux['chosen'])
    np.testing.assert_array_equal(paux['attention'][:, :, :6],
                                  aux['attention'])
    np.testing.assert_array_equal(paux['attention'][:, :, 6:], 0.0)
    np.testing.assert_allclose(plosses['margin'], losses['margin'],
                               rtol=1e-5)

  @parameterized.named_parameters(('plain', {}), ('ng_nl', _EXTENSIONS))
  def test_params_do_not_depend_on_batch_memory_or_length(self, extensions):
    model = _model(**extensions)
    small = jax.eval_shape(model.init, jax.random.key(0),
                           random_inputs(0, 1, 2, 3, (2,)))
    large = jax.eval_shape(model.init, jax.random.key(0),
                           random_inputs(0, 5, 20, 9))
    self.assertEqual(jax.tree.map(jnp.shape, small),
                     jax.tree.map(jnp.shape, large))
    small = _random_params(model, 0, 0.1, random_inputs(0, 1, 2, 3, (2,)))
    # The shapes of test_padding_changes_nothing (its programs serve).
    for b, m, l in ((3, 6, 5), (3, 11, 8)):
      out, _ = _evaluate_and_train_any(model, small,
                                       random_inputs(1, b, m, l, (3, m)))
      logits, aux = out.logits, out.aux
      self.assertEqual(logits.shape, (b, _V))
      self.assertEqual(aux['attention'].shape, (b, 2, m))
      self.assertEqual(aux['chosen'].shape, (b, 2))

  @staticmethod
  @functools.cache
  def _empty_memory_value_and_grad():
    """`(params, fn)`, `fn(params) = {config key: ((loss, aux), grads)}`.

    Both extension settings on an all-empty memory, in one program (see
    `_evaluate_and_train_all`).
    """
    inputs = random_inputs(6, filled=(0,))
    models = {_config_key(kw): _model(null_memory=False, **kw)
              for kw in ({}, _EXTENSIONS)}
    params = {key: _random_params(model, 0, 0.1, inputs)
              for key, model in models.items()}
    return params, jax.jit(lambda params: {
        key: jax.value_and_grad(_loss_fn(model, inputs), has_aux=True)(
            params[key]) for key, model in models.items()})

  @parameterized.named_parameters(('plain', {}), ('ng_nl', _EXTENSIONS))
  def test_empty_memory_attends_nowhere_and_stays_finite(self, extensions):
    params, value_and_grad = self._empty_memory_value_and_grad()
    with jax.debug_nans(True):
      (loss, aux), grads = value_and_grad(params)[_config_key(extensions)]
    np.testing.assert_array_equal(aux['attention'], 0.0)
    np.testing.assert_array_equal(aux['chosen'], -1)
    self.assertTrue(np.isfinite(float(loss)))
    self.assertTrue(all(np.all(np.isfinite(g))
                        for g in jax.tree.leaves(grads)))

  def test_sampled_negatives_use_the_noise_rng(self):
    model = _model(num_negatives=3)
    inputs = random_inputs(7)
    params = _random_params(model, 0, 0.1, inputs)
    # Logits at evaluation need neither rng nor labels.
    eval_inputs = {k: inputs[k] for k in ('story', 'query')}
    # One program for training and evaluation (see
    # `_evaluate_and_train_all`).
    apply = jax.jit(lambda p, k: (
        model.apply(p, inputs, train=True, rngs={'noise': k}).losses['margin'],
        model.apply(p, eval_inputs)))
    (a, out), (b, _) = (apply(params, jax.random.key(1)),
                        apply(params, jax.random.key(1)))
    c, _ = apply(params, jax.random.key(2))
    self.assertEqual(float(a), float(b))
    self.assertNotEqual(float(a), float(c))
    self.assertEqual(out.logits.shape, (3, _V))
    self.assertEqual(dict(out.losses), {})
    self.assertNotIn('loss', out.aux)
    self.assertNotIn('support_accuracy', out.aux)

  def test_extensions_only_in_r_leave_the_lookups_plain(self):
    inputs = random_inputs(8)
    extended = _model(extend_lookups=False, **_EXTENSIONS)
    names = set(jax.eval_shape(extended.init, jax.random.key(0),
                               inputs)['params'])
    self.assertEqual({n for n in names if 'ngram' in n or 'hidden' in n
                      or 'output' in n},
                     {'r_query_ngram', 'r_support_ngram', 'r_hidden',
                      'r_hidden_bias', 'r_output'})
    # The lookups then choose exactly as the plain model with the same
    # shared parameters.
    plain = _model()
    params = _random_params(extended, 1, 0.1, inputs)
    plain_names = set(jax.eval_shape(plain.init, jax.random.key(1),
                                     inputs)['params'])
    shared = {'params': {k: v for k, v in params['params'].items()
                         if k in plain_names}}
    aux, plain_aux = jax.jit(lambda params, shared: (  # one program
        extended.apply(params, inputs).aux,
        plain.apply(shared, inputs).aux))(params, shared)
    np.testing.assert_array_equal(aux['chosen'], plain_aux['chosen'])

  def test_bad_extension_settings_raise(self):
    inputs = random_inputs(8)
    for kw, field in ((dict(ngram_sizes=(0,)), 'ngram_sizes'),
                      (dict(ngram_sizes=(2,), ngram_buckets=0),
                       'ngram_buckets'),
                      (dict(hidden_size=-1), 'hidden_size')):
      with self.assertRaisesRegex(ValueError, field):
        _model(**kw).init(jax.random.key(0), inputs)

  def test_nl_gradients_match_finite_differences(self):
    # The margin loss is piecewise linear in the embeddings but smooth in the
    # tanh layer's weights away from hinge kinks; a central difference with a
    # small step checks the NL backward pass.
    model = _model(init_std=0.5, **_EXTENSIONS)
    inputs = random_inputs(3)
    params = jax.jit(model.init)(jax.random.key(4), inputs)
    # Values and gradients from one program.
    value_and_grad = jax.jit(jax.value_and_grad(
        lambda p: _loss_fn(model, inputs)(p)[0]))
    grads = value_and_grad(params)[1]['params']
    names = ('r_hidden', 'o_hidden', 'r_output')
    directions = jax.jit(lambda g: {  # one program, not one per shape
        name: jax.random.normal(jax.random.key(7), g[name].shape)
        for name in names})(grads)
    eps = 1e-2
    for name in names:
      direction = np.asarray(directions[name])
      def shifted(sign, name=name, direction=direction):
        p = jax.tree.map(lambda a: a, params)
        p['params'][name] = (np.asarray(params['params'][name])
                             + sign * eps * direction)
        return float(value_and_grad(p)[0])
      numeric = (shifted(1) - shifted(-1)) / (2 * eps)
      analytic = float(np.sum(np.asarray(grads[name]) * direction))
      self.assertGreater(abs(numeric), 1e-2, name)  # a real check
      np.testing.assert_allclose(analytic, numeric, rtol=5e-2, atol=5e-3,
                                 err_msg=name)

  def test_train_without_labels_raises(self):
    model = _model()
    inputs = random_inputs(8)
    params = _random_params(model, 0, 0.1, inputs)
    del inputs['answer']
    with self.assertRaisesRegex(ValueError, 'answer'):
      model.apply(params, inputs, train=True)

  def test_support_accuracy_counts_real_facts(self):
    model = _model()
    inputs = random_inputs(9)
    params = _random_params(model, 0, 0.1, inputs)
    aux = _evaluate_and_train_any(model, params, inputs)[0].aux
    sup = inputs['supporting'][:, :2]
    real = sup >= 0
    expected = np.sum(real & (np.asarray(aux['chosen']) == sup)) / real.sum()
    np.testing.assert_allclose(aux['support_accuracy'], expected, rtol=1e-6)


class LearningTest(absltest.TestCase):
  """100 Adam steps on 'where is X' (answer = X's latest move)."""

  def _train(self):
    """`{time_features: (losses, support accuracy, accuracy)}`.

    The models with and without time features, each trained on the same
    batches as if alone, side by side: one program for both inits, one for
    both training steps, one for both evaluations (see
    `_evaluate_and_train_all`).
    """
    data = where_is_data(0, 1024)
    test = where_is_data(1, 512)
    models = {time_features: _model(embedding_size=20,
                                    time_features=time_features)
              for time_features in (True, False)}
    params = jax.jit(lambda key, inputs: {
        name: model.init(key, inputs) for name, model in models.items()})(
            jax.random.key(0), {k: v[:2] for k, v in data.items()})
    opt = optax.adam(0.01)

    @jax.jit
    def train_step(params, opt_state, idx):
      batch = {k: v[idx] for k, v in data.items()}
      new_params, new_state, losses = {}, {}, {}
      for name, model in models.items():
        (losses[name], _), grads = jax.value_and_grad(
            _loss_fn(model, batch), has_aux=True)(params[name])
        updates, new_state[name] = opt.update(grads, opt_state[name],
                                              params[name])
        new_params[name] = optax.apply_updates(params[name], updates)
      return new_params, new_state, losses

    data = {k: jnp.asarray(v) for k, v in data.items()}
    opt_state = jax.jit(lambda params: {
        name: opt.init(p) for name, p in params.items()})(params)
    order = np.random.default_rng(2).integers(0, 1024, size=(100, 32))
    losses = {name: [] for name in models}
    for idx in order:
      params, opt_state, loss = train_step(params, opt_state, idx)
      for name in models:
        losses[name].append(float(loss[name]))
    outs = jax.jit(lambda params, test: {
        name: model.apply(params[name], test)
        for name, model in models.items()})(params, test)
    results = {}
    for name, out in outs.items():
      logits, aux = np.asarray(out.logits), out.aux
      accuracy = float(np.mean(np.argmax(logits, -1) == test['answer']))
      results[name] = (losses[name], float(aux['support_accuracy']),
                       accuracy)
    return results

  def test_loss_falls_and_time_features_find_the_latest_fact(self):
    results = self._train()
    losses, support, accuracy = results[True]
    self.assertLess(np.mean(losses[-10:]), 0.3 * np.mean(losses[:10]))
    # Chance is about 1 / 5.5 (3 to 8 facts per story).
    self.assertGreater(support, 0.9)
    self.assertGreater(accuracy, 0.9)
    _, plain_support, _ = results[False]
    self.assertLess(plain_support, support - 0.2)


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
