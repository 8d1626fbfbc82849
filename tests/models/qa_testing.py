"""Helpers shared by the bAbI-style QA model tests (MemN2N, KV-MemNN)."""

import functools

import jax
import numpy as np


def np_word_weight(j, k, length, d, encoding):
  """Weight of word j of J in dimension k of d (1-based), from the papers.

  'position': MemN2N sec. 4.1, `(1 - j/J) - (k/d)(1 - 2j/J)`;
  'position_centered': the authors' code, `1 + 4 (k - (d+1)/2)(j - (J+1)/2)
  / (d J)`; 'bow': 1.
  """
  if encoding == 'position':
    return (1 - j / length) - (k / d) * (1 - 2 * j / length)
  if encoding == 'position_centered':
    return 1 + 4 * (k - (d + 1) / 2) * (j - (length + 1) / 2) / (d * length)
  assert encoding == 'bow', encoding
  return 1.0


def random_batch(seed, batch, num_slots, length, vocab_size,
                 empty_last=True):
  """Left-aligned stories and queries; the last story is all-empty."""
  rng = np.random.default_rng(seed)
  story = np.zeros((batch, num_slots, length), np.int32)
  query = np.zeros((batch, length), np.int32)
  for b in range(batch):
    for i in range(rng.integers(1, num_slots + 1)):
      words = rng.integers(1, length + 1)
      story[b, i, :words] = rng.integers(1, vocab_size, size=words)
    words = rng.integers(1, length + 1)
    query[b, :words] = rng.integers(1, vocab_size, size=words)
  if empty_last:
    story[-1] = 0
  return {'story': story, 'query': query}


def random_params(model, seed, vocab_size):
  """Random N(0, 0.5^2) parameters with the module's structure.

  `jax.eval_shape` gives the structure without compiling `init` for every
  configuration; the tests check `init` itself separately.
  """
  shapes = jax.eval_shape(
      model.init, jax.random.key(0),
      random_batch(0, 1, 1, 1, vocab_size, empty_last=False))
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda s: np.asarray(0.5 * rng.normal(size=s.shape), s.dtype), shapes)


@functools.cache
def jitted(model):
  """`model.apply`, jitted once per (hashable) module configuration."""
  return jax.jit(model.apply, static_argnames='train')


def assert_padding_invariant(apply, params, inputs, num_slots, length):
  """Empty slots and padding words change neither logits nor attention.

  Slot 1 becomes a new empty slot (old slot i > 0 moves to i + 1), two more
  empty slots go at the end, and every sentence and the query get two more
  padding words.

  Args:
    apply: `(params, inputs) -> memax.types.ModelOutput` with
      `aux['attention']` `[B, K, M]`.
    params: the model's parameters.
    inputs: a batch from `random_batch` with `num_slots` slots of `length`
      words.
    num_slots: `M` of `inputs`.
    length: `L` of `inputs`.
  """
  m, l = num_slots, length
  out = apply(params, inputs)
  logits, aux = out.logits, out.aux
  batch = inputs['story'].shape[0]
  story = np.zeros((batch, m + 3, l + 2), np.int32)
  story[:, 0, :l] = inputs['story'][:, 0]
  story[:, 2:m + 1, :l] = inputs['story'][:, 1:]
  bigger = {'story': story,
            'query': np.pad(inputs['query'], ((0, 0), (0, 2)))}
  out2 = apply(params, bigger)
  logits2, aux2 = out2.logits, out2.aux
  np.testing.assert_allclose(logits2, logits, rtol=1e-5, atol=1e-6)
  att, att2 = np.asarray(aux['attention']), np.asarray(aux2['attention'])
  np.testing.assert_allclose(att2[:, :, 0], att[:, :, 0], rtol=1e-5,
                             atol=1e-7)
  np.testing.assert_allclose(att2[:, :, 2:m + 1], att[:, :, 1:],
                             rtol=1e-5, atol=1e-7)
  np.testing.assert_array_equal(att2[:, :, 1], 0.0)
  np.testing.assert_array_equal(att2[:, :, m + 1:], 0.0)


def np_ngram_id(gram, buckets):
  """The hash of `memax.ops.memnn.ngram_ids` of one n-gram, in Python ints."""
  h = len(gram)
  for w in gram:
    h = ((h * 16777619) % 2**32) ^ int(w)
  return ((h * 2654435761) % 2**32) % buckets + 1


def apply_together(calls):
  """`{key: ModelOutput}` of several forward passes, as one compiled program.

  `calls[key] = (model, params, inputs)` or `(model, params, inputs,
  kwargs)`: `train` is static and the other keyword arguments (`linear`,
  `rngs`) are traced. Compilation is most of the model tests' time, and
  XLA compiles each distinct fused kernel once per program: configurations
  with the same shapes share many, so one program for all of them compiles
  about a third less than one program each (programs of other shapes
  share little: no gain). As NumPy arrays: indexing a `jax.Array` compiles
  a program per shape.
  """
  calls = {key: (tuple(call) + ({},))[:4] for key, call in calls.items()}
  keys = list(calls)
  static = [{k: v for k, v in calls[key][3].items() if k == 'train'}
            for key in keys]

  @jax.jit
  def run(args):
    return [calls[key][0].apply(params, inputs, **kw, **st)
            for key, st, (params, inputs, kw) in zip(keys, static, args)]

  outs = run([(calls[key][1], calls[key][2],
               {k: v for k, v in calls[key][3].items() if k != 'train'})
              for key in keys])
  return dict(zip(keys, jax.tree.map(np.asarray, outs)))


def forwards_in_one_program(make_calls):
  """A cached `() -> (calls, outputs)`: `calls = make_calls()` (a dict for
  `apply_together`) and `outputs = apply_together(calls)`."""

  @functools.cache
  def forwards():
    calls = make_calls()
    return calls, apply_together(calls)

  return forwards


def assert_padding_invariant_of(forwards, key, jit_model, num_slots, length):
  """`assert_padding_invariant` of the call `key` of `forwards()`.

  `forwards` as made by `forwards_in_one_program`. The unpadded inputs'
  output comes from the shared program (the same model, parameters and
  inputs); the padded ones run through `jit_model(model)`.
  """
  calls, outputs = forwards()
  model, params, inputs = calls[key][:3]
  apply = jit_model(model)

  def served(p, x):
    if p is params and x is inputs:
      return outputs[key]
    return apply(p, x)

  assert_padding_invariant(served, params, inputs, num_slots, length)
