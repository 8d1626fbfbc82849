"""Tests for the DAM cell (Park, Choi & Lee 2021; taewonpark/DAM): one step
against a NumPy step written from the code's equations (the controller,
layer norm and interface included), the attentive gate, K = 1, the
stop-gradient of the usage, free memory and batch sizes, degenerate
inputs, the readout's DAM options, config errors.
"""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np

from memax import models
from memax.cells import dam
from tests.cells.dnc_cell_test import np_content
from tests.ops import dnc_test as ref

_B, _D = 3, 5


def _cell(**kw):
  defaults = dict(num_blocks=3, controller_size=8, memory_size=6,
                  word_size=4, num_read_heads=2, return_aux=True)
  defaults.update(kw)
  return dam.DAMCell(**defaults)


def _simplex(rng, shape, total):
  x = np.exp(2 * rng.normal(size=shape))
  return total * x / x.sum(-1, keepdims=True)


def _random_carry(cell, seed):
  """A carry in the middle of a sequence, as NumPy float32 arrays."""
  rng = np.random.default_rng(seed)
  k, n, w, r, c = (cell.num_blocks, cell.memory_size, cell.word_size,
                   cell.num_read_heads, cell.controller_size)
  f32 = np.float32
  return dam.DAMState(
      controller=dam.LSTMState(f32(rng.normal(size=(_B, c))),
                               f32(0.5 * rng.normal(size=(_B, c)))),
      memory=f32(rng.normal(size=(_B, k, n, w))),
      usage=f32(rng.uniform(size=(_B, k, n))),
      read_weights=f32(_simplex(rng, (_B, k, r, n), 0.5)),
      write_weights=f32(_simplex(rng, (_B, k, n), 0.7)),
      read_vectors=f32(rng.normal(size=(_B, r, w))))


@functools.lru_cache(maxsize=None)
def _program(cell):
  """`run(x, carry) -> (params, (new_carry, (y, aux)))`, jitted."""

  @jax.jit
  def run(x, carry):
    params = cell.init(jax.random.key(2), carry, x)
    return params, cell.apply(params, carry, x)

  return run


def _sigmoid(z):
  return 1.0 / (1.0 + np.exp(-z))


def _softplus(z):
  return np.log1p(np.exp(z))


def np_step(cell, params, carry, x, b):
  """One DAM step of example `b` in float64, from the code's equations."""
  p = jax.tree.map(np.float64, jax.device_get(params))['params']
  f = lambda a: np.float64(a[b])
  k, r, w = cell.num_blocks, cell.num_read_heads, cell.word_size
  clip = lambda v: np.clip(v, -cell.controller_clip, cell.controller_clip)
  # Controller: an LSTM over [x; r_{t-1}] (gates i, g, f, o), clipped.
  kernel, bias = p['lstm']['gates']['kernel'], p['lstm']['gates']['bias']
  h_prev, c_prev = f(carry.controller.h), f(carry.controller.c)
  z = np.concatenate([f(x), f(carry.read_vectors).ravel(), h_prev]) @ kernel
  i, g, fg, o = np.split(z + bias, 4)
  c = _sigmoid(fg + cell.forget_bias) * c_prev + _sigmoid(i) * np.tanh(g)
  # The output and the state are clipped after the LSTM's step (h from
  # the unclipped cell).
  h = clip(_sigmoid(o) * np.tanh(c))
  state_h = h
  # Layer normalisation (eps 1e-6), then the interface.
  h = (h - h.mean()) / np.sqrt(h.var() + 1e-6)
  h = h * p['norm']['scale'] + p['norm']['bias']
  xi = h @ p['interface']['kernel'] + p['interface']['bias']
  strength = (_softplus if cell.strength == 'softplus'
              else lambda v: 1.0 + _softplus(v))
  sizes = (('write_vector', w), ('erase', w), ('free_gates', r),
           ('allocation_gate', 1), ('write_gate', 1), ('write_key', w),
           ('write_strength', 1), ('read_keys', r * w),
           ('read_strengths', r), ('attentive_gate', r))
  blocks, at = [], 0
  for _ in range(k):  # block after block, each block's fields in order
    fields = {}
    for name, size in sizes:
      fields[name] = xi[at:at + size]
      at += size
    blocks.append(fields)
  assert at == xi.shape[0]
  logits = np.stack([blk['attentive_gate'] for blk in blocks])  # [K, R]
  gate = np.exp(logits - logits.max(0)) / np.exp(logits - logits.max(0)).sum(0)
  out = {name: [] for name in ('memory', 'usage', 'write_weights',
                               'read_weights', 'allocation')}
  reads = np.zeros((r, w))
  for kk, blk in enumerate(blocks):
    memory = f(carry.memory)[kk]
    usage = ref.np_usage(f(carry.usage)[kk], f(carry.write_weights)[kk],
                         f(carry.read_weights)[kk],
                         _sigmoid(blk['free_gates']))
    allocation = ref.np_allocation(usage)
    content = np_content(memory, blk['write_key'],
                         strength(blk['write_strength'][0]))
    write = ref.np_write_weights(allocation, content,
                                 _sigmoid(blk['allocation_gate'][0]),
                                 _sigmoid(blk['write_gate'][0]))
    memory = (memory * (1 - np.outer(write, _sigmoid(blk['erase'])))
              + np.outer(write, blk['write_vector']))
    keys = blk['read_keys'].reshape(r, w)
    read = np.stack([gate[kk, i] * np_content(memory, keys[i],
                                              strength(blk['read_strengths'][i]))
                     for i in range(r)])
    reads += read @ memory
    for name, value in (('memory', memory), ('usage', usage),
                        ('write_weights', write), ('read_weights', read),
                        ('allocation', allocation)):
      out[name].append(value)
  out = {name: np.stack(v) for name, v in out.items()}
  out.update(read_vectors=reads, gate=gate, state_h=state_h,
             y=np.concatenate([h, reads.ravel()]))
  return out


class DAMCellTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ('three_blocks', dict()),
      ('one_block_oneplus', dict(num_blocks=1, strength='oneplus')),
      ('clipped_one_head', dict(num_read_heads=1, controller_clip=0.3)),
  )
  def test_step_matches_the_code_equations(self, kw):
    cell = _cell(**kw)
    carry = _random_carry(cell, seed=3)
    x = np.random.default_rng(4).normal(size=(_B, _D)).astype(np.float32)
    params, (new, (y, aux)) = _program(cell)(x, carry)
    for b in range(_B):
      want = np_step(cell, params, carry, x, b)
      got = dict(memory=new.memory[b], usage=new.usage[b],
                 write_weights=new.write_weights[b],
                 read_weights=new.read_weights[b],
                 read_vectors=new.read_vectors[b], y=y[b],
                 allocation=aux['allocation'][b],
                 gate=aux['attentive_gate'][b].T,
                 state_h=new.controller.h[b])
      for name, value in got.items():
        np.testing.assert_allclose(value, want[name], rtol=2e-4, atol=2e-5,
                                   err_msg=f'{kw} {name} example {b}')

  def test_interface_size(self):
    # Per block 3 W + R W + 3 R + 3 (the code's access.py): K=3, W=4, R=2.
    cell = _cell()
    params, _ = _program(cell)(np.ones((_B, _D), np.float32),
                               _random_carry(cell, seed=5))
    self.assertEqual(params['params']['interface']['kernel'].shape, (8, 87))

  def test_attentive_gate_sums_to_one_over_blocks(self):
    cell = _cell()
    _, (_, (_, aux)) = _program(cell)(
        np.ones((_B, _D), np.float32), _random_carry(cell, seed=5))
    gate = np.asarray(aux['attentive_gate'])  # [B, R, K]
    self.assertEqual(gate.shape, (_B, 2, 3))
    np.testing.assert_allclose(gate.sum(-1), 1.0, rtol=1e-6)
    self.assertTrue(np.all(gate > 0))

  def test_one_block_reads_by_content_alone(self):
    # K = 1: the gate is 1 and the stored read weights are content weights
    # (each sums to 1 over the slots), as the DNC's content-based unit.
    cell = _cell(num_blocks=1)
    _, (new, (_, aux)) = _program(cell)(
        np.ones((_B, _D), np.float32), _random_carry(cell, seed=6))
    np.testing.assert_allclose(aux['attentive_gate'], 1.0)
    np.testing.assert_allclose(np.sum(new.read_weights, -1), 1.0, rtol=1e-5)

  def test_usage_does_not_pass_gradients_to_the_previous_write(self):
    # The code stops the gradient of the previous write weights in the
    # usage, their only path to this step's outputs.
    cell = _cell(return_aux=False)
    carry = _random_carry(cell, seed=7)
    x = np.ones((_B, _D), np.float32)
    params, _ = _program(cell)(x, carry)

    @jax.jit
    def grads(carry):
      def f(c):
        new, (y, _) = cell.apply(params, c, x)
        return jnp.sum(y ** 2) + jnp.sum(new.usage) + jnp.sum(new.memory)
      return jax.grad(f)(carry)

    g = grads(carry)
    np.testing.assert_array_equal(g.write_weights, 0.0)
    self.assertGreater(float(jnp.abs(g.read_weights).sum()), 0.0)

  def test_memory_and_batch_sizes_are_free_and_degenerate_inputs_finite(self):
    cell = _cell(return_aux=False)
    x = np.zeros((_B, _D), np.float32)
    zero = cell.initialize_carry(jax.random.key(0), x.shape)
    params, _ = _program(cell)(x, zero)
    bigger = cell.clone(memory_size=11)

    @jax.jit
    def run(params):
      xs = jnp.zeros((5, _D))
      big = bigger.apply(params, bigger.initialize_carry(
          jax.random.key(0), xs.shape), xs)

      def loss(params):  # zero inputs, memory, keys and usage.
        new, (y, _) = cell.apply(params, zero, x)
        return jnp.sum(y) + jnp.sum(new.read_vectors)

      return big, jax.grad(loss)(params)

    (new, (y, _)), g = run(params)
    self.assertEqual(new.memory.shape, (5, 3, 11, 4))
    self.assertEqual(y.shape, (5, 8 + 2 * 4))
    for leaf in jax.tree.leaves((new, y, g)):
      self.assertTrue(np.all(np.isfinite(leaf)))

  @parameterized.parameters(
      ('num_blocks', 0), ('memory_size', 2.5), ('strength', 'relu'),
      ('controller_clip', -1.0))
  def test_bad_config_names_the_field(self, field, value):
    cell = _cell(**{field: value})
    with self.assertRaisesRegex(ValueError, f'config.model.{field}'):
      cell.initialize_carry(jax.random.key(0), (_B, _D))


class ReadoutTest(absltest.TestCase):
  """The sequence model's DAM output path: dropout of the controller part
  in training, ReLU layers, the linear layer and the clip."""

  def test_dropout_layers_and_clip(self):
    config = dict(name='dam', num_blocks=2, controller_size=8,
                  memory_size=5, word_size=3, num_read_heads=1,
                  readout_dropout=0.5, readout_layers=(6, 7),
                  output_clip=0.05)
    model = models.build(config, output_size=4)
    xs = np.random.default_rng(0).normal(size=(2, 3, _D)).astype(np.float32)

    @jax.jit
    def run(xs):
      rngs = {'carry': jax.random.key(0), 'dropout': jax.random.key(1)}
      params = model.init({'params': jax.random.key(3), **rngs}, xs)
      plain = model.apply(params, xs)
      train = model.apply(params, xs, train=True, rngs=rngs)
      again = model.apply(params, xs, train=True,
                          rngs={**rngs, 'dropout': jax.random.key(2)})
      return params, plain, train, again

    params, plain, train, again = run(xs)
    names = set(params['params'])
    self.assertEqual(names, {'cell', 'readout_hidden_0', 'readout_hidden_1',
                             'readout'})
    self.assertEqual(params['params']['readout_hidden_1']['kernel'].shape,
                     (6, 7))
    # Clipped: the largest logit sits at the bound.
    self.assertEqual(float(jnp.abs(plain.logits).max()), np.float32(0.05))
    # Dropout: a training apply differs from evaluation and between keys.
    self.assertFalse(np.allclose(train.logits, plain.logits))
    self.assertFalse(np.allclose(train.logits, again.logits))

  def test_embedding_of_token_ids(self):
    model = models.build(dict(name='dam', num_blocks=1, controller_size=4,
                              memory_size=3, word_size=2, embedding_size=5),
                         output_size=2, input_size=7)
    ids = np.int32([[3, 0, 6, -1, -1], [1, 2, -1, -1, -1]])
    # Padding is any negative id; a real id counts.
    other_pad = np.where(ids < 0, -5, ids)
    other_word = ids.copy()
    other_word[0, 2] = 5

    @jax.jit
    def run(ids):
      params = model.init(jax.random.key(0), ids)
      return params, [model.apply(params, x).logits
                      for x in (ids, other_pad, other_word)]

    params, (logits, padded, changed) = run(ids)
    self.assertEqual(params['params']['embedding']['embedding'].shape, (7, 5))
    self.assertEqual(logits.shape, (2, 5, 2))
    # Equal up to rounding: XLA may fuse the three applies differently
    # (seen: 4e-6 on logits of about 1.2, float32 through 5 steps).
    np.testing.assert_allclose(padded, logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(changed[:, :2], logits[:, :2], rtol=1e-5,
                               atol=1e-5)
    self.assertFalse(np.allclose(changed[0, 2:], logits[0, 2:]))
    with self.assertRaisesRegex(ValueError, 'config.model.embedding_size'):
      model.init(jax.random.key(0), np.zeros((2, 5, 7), np.float32))
    with self.assertRaisesRegex(ValueError, 'config.model.embedding_size'):
      models.build(dict(name='dam', embedding_size=4), output_size=2)

  def test_defaults_keep_the_linear_readout(self):
    model = models.build(dict(name='dam', num_blocks=1, controller_size=4,
                              memory_size=3, word_size=2), output_size=2)
    self.assertEqual((model.readout_dropout, model.readout_layers,
                      model.output_clip), (0.0, (), 0.0))

  def test_bad_readout_fields_name_the_field(self):
    for field, value in (('readout_dropout', 1.0), ('readout_layers', (0,)),
                         ('output_clip', -2.0)):
      with self.assertRaisesRegex(ValueError, f'config.model.{field}'):
        models.build(dict(name='dam', **{field: value}), output_size=2)


if __name__ == '__main__':
  absltest.main()
