"""Tests for the DNC cell (Graves et al. 2016, Methods): one step against
the Methods' equations composed by hand from the NumPy references of the
ops, the sparse link against the dense one, free memory and batch sizes,
the deep controller, clipping, degenerate inputs, config errors.
"""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np

from memax import ops
from memax.cells import dnc
from memax.models import SequenceModel
from tests.ops import dnc_test as ref

_B, _D = 3, 5


def _cell(**kw):
  defaults = dict(controller_size=10, memory_size=7, word_size=4,
                  num_read_heads=2)
  defaults.update(kw)
  return dnc.DNCCell(**defaults)


# Fields that change the step but not the parameters: `init` of cells that
# differ only in these gives the same parameters (shapes and values), so
# `_init` initialises them once.
_STEP_ONLY = dict(strength='oneplus', link_sparsity=0, controller_clip=20.0,
                  activation_grad_clip=0.0, return_aux=False)


def _init(cell, seed=0, batch=_B):
  x = np.random.default_rng(seed).normal(size=(batch, _D)).astype(np.float32)
  carry = cell.initialize_carry(jax.random.key(1), x.shape)
  params = _init_program(cell.clone(**_STEP_ONLY))(x)
  return params, carry, x


@functools.lru_cache(maxsize=None)
def _init_program(cell):
  """`cell.init` on the zero carry, jitted: one compilation per cell (eager,
  `init` compiles every op on its own)."""

  @jax.jit
  def init(x):
    carry = cell.initialize_carry(jax.random.key(1), x.shape)
    return cell.init(jax.random.key(2), carry, x)

  return init


@functools.lru_cache(maxsize=None)
def _steps_program(cells):
  """`run(params, carries, x)`: for each cell of `cells` (a tuple of cells
  with the same parameters) and its carry, `(cell.apply(params, carry, x),
  cell.apply(..., method=controller_step))`. One jitted program for all:
  compiled together, a few cells cost much less than one by one."""

  @jax.jit
  def run(params, carries, x):
    return tuple(
        (cell.apply(params, carry, x),
         cell.apply(params, carry, x, method=dnc.DNCCell.controller_step))
        for cell, carry in zip(cells, carries))

  return run


# The cases of test_step_matches_the_methods, `(strength, link_sparsity,
# num_write_heads)`; the first is the default cell.
_STEP_CASES = (('oneplus', 0, 1), ('softplus', 3, 1), ('oneplus', 7, 1),
               ('oneplus', 0, 2), ('softplus', 3, 2))


def _step_cells(heads=1):
  """The cells of the cases with `heads` write heads (the same
  parameters)."""
  return tuple(_cell(strength=strength, link_sparsity=k, return_aux=True,
                     num_write_heads=h)
               for strength, k, h in _STEP_CASES if h == heads)


def _abstract_init(cell, batch=_B):
  """`(params, carry, x)` of `_init` as shapes (`jax.eval_shape`): for the
  tests that only look at shapes, nothing to compile."""
  x = jax.ShapeDtypeStruct((batch, _D), jnp.float32)
  carry = jax.eval_shape(
      lambda: cell.initialize_carry(jax.random.key(1), x.shape))
  params = jax.eval_shape(lambda c, x: cell.init(jax.random.key(2), c, x),
                          carry, x)
  return params, carry, x


_sparse_to_dense = jax.jit(ops.dnc_sparse_link_to_dense)


def _simplex(rng, shape, total):
  x = np.exp(2 * rng.normal(size=shape))
  return total * x / x.sum(-1, keepdims=True)


def _random_carry(cell, carry, seed):
  """A carry in the middle of a sequence: random memory, usage, link, ..."""
  rng = np.random.default_rng(seed)
  n, r, w = cell.memory_size, cell.num_read_heads, cell.word_size
  h = cell.num_write_heads
  link = _simplex(rng, (_B, h, n, n), 0.9) * (1 - np.eye(n))
  if cell.link_sparsity:
    # Keep the K largest entries per row, stored sparsely.
    k = cell.link_sparsity
    columns = np.argsort(-link, axis=-1, kind='stable')[..., :k]
    values = np.take_along_axis(link, columns, -1)
    link = ops.SparseLink(np.float32(values), np.int32(columns))
  else:
    link = np.float32(link)
  # NumPy: host arrays, nothing to compile.
  return jax.device_get(carry)._replace(
      memory=np.float32(rng.normal(size=(_B, n, w))),
      usage=np.float32(rng.uniform(size=(_B, n))),
      link=link,
      precedence=np.float32(_simplex(rng, (_B, h, n), 0.8)),
      read_weights=np.float32(_simplex(rng, (_B, r, n), 1.0)),
      write_weights=np.float32(_simplex(rng, (_B, h, n), 0.7)),
      read_vectors=np.float32(rng.normal(size=(_B, r, w))))


def _dense_link(link, b):
  """`[H, N, N]`: example `b`'s link matrices, one per write head."""
  link = jax.device_get(link)  # indexed on the host.
  if isinstance(link, ops.SparseLink):
    return np.float64(jax.vmap(_sparse_to_dense)(
        jax.tree.map(lambda a: a[b], link)))
  return np.float64(link[b])


def np_content(memory, key, strength, eps=1e-6):
  """Methods, "Content-based addressing": softmax of strength x cosine."""
  sims = np.array([
      key @ row / (np.sqrt(key @ key + eps**2) * np.sqrt(row @ row + eps**2)
                   + eps) for row in memory])
  e = np.exp(strength * sims - np.max(strength * sims))
  return e / e.sum()


def np_step(cell, carry, b, xi):
  """One DNC memory step of example `b` from the Methods (float64).

  With `H` write heads, deepmind/dnc's several writes: the usage counts
  their writes together, the heads allocate in turn on the usage their
  predecessors' gated allocations raised, erasures multiply and additions
  sum, each head has its own link and precedence, and the read modes are
  (backward through each head's link, content, forward through each).

  xi: the interface vector before its activations, `[W R + 3 W H +
  R (2 H + 3) + 3 H]`.
  """
  sig = lambda z: 1.0 / (1.0 + np.exp(-z))
  softplus = lambda z: np.log1p(np.exp(z))
  strength = ((lambda z: 1.0 + softplus(z)) if cell.strength == 'oneplus'
              else softplus)
  r, w, h = cell.num_read_heads, cell.word_size, cell.num_write_heads
  parts, at = {}, 0
  for name, size in (('read_keys', r * w), ('read_strengths', r),
                     ('write_key', h * w), ('write_strength', h),
                     ('erase', h * w), ('write_vector', h * w),
                     ('free_gates', r), ('allocation_gate', h),
                     ('write_gate', h), ('read_modes', (2 * h + 1) * r)):
    parts[name] = xi[at:at + size]
    at += size
  assert at == xi.shape[0]
  read_keys = parts['read_keys'].reshape(r, w)
  read_strengths = strength(parts['read_strengths'])
  write_keys = parts['write_key'].reshape(h, w)
  write_strengths = strength(parts['write_strength'])
  erase = sig(parts['erase'].reshape(h, w))
  vectors = parts['write_vector'].reshape(h, w)
  alloc_gates, write_gates = (sig(parts['allocation_gate']),
                              sig(parts['write_gate']))
  modes = np.exp(parts['read_modes'].reshape(r, 2 * h + 1))
  modes /= modes.sum(-1, keepdims=True)
  f = lambda a: np.float64(a[b])
  memory, prev_reads = f(carry.memory), f(carry.read_weights)
  prev_writes = f(carry.write_weights)  # [H, N]
  written = prev_writes[0] if h == 1 else 1 - np.prod(1 - prev_writes, 0)
  usage = ref.np_usage(f(carry.usage), written, prev_reads,
                       sig(parts['free_gates']))
  allocation, writes, u = [], [], usage
  for i in range(h):
    allocation.append(ref.np_allocation(u))
    u = u + (1 - u) * alloc_gates[i] * write_gates[i] * allocation[-1]
    content = np_content(memory, write_keys[i], write_strengths[i])
    writes.append(ref.np_write_weights(allocation[-1], content,
                                       alloc_gates[i], write_gates[i]))
  keep, added = np.ones_like(memory), np.zeros_like(memory)
  for i in range(h):
    keep *= 1 - np.outer(writes[i], erase[i])
    added += np.outer(writes[i], vectors[i])
  memory = memory * keep + added
  prev_link, prev_prec = _dense_link(carry.link, b), f(carry.precedence)
  links, precedence, forward, backward = [], [], [], []
  for i in range(h):
    if cell.link_sparsity:
      links.append(ref.np_sparse_link(prev_link[i], prev_prec[i], writes[i],
                                      cell.link_sparsity))
    else:
      links.append(ref.np_link(prev_link[i], prev_prec[i], writes[i]))
    precedence.append(ref.np_precedence(prev_prec[i], writes[i]))
    fwd, bwd = ref.np_directional(links[-1], prev_reads)
    forward.append(fwd)
    backward.append(bwd)
  content = np.stack([np_content(memory, read_keys[i], read_strengths[i])
                      for i in range(r)])
  if h == 1:
    read_weights = ref.np_read_weights(backward[0], content, forward[0],
                                       modes)
  else:
    read_weights = modes[:, h, None] * content
    for i in range(h):
      read_weights = (read_weights + modes[:, i, None] * backward[i]
                      + modes[:, h + 1 + i, None] * forward[i])
  return dict(memory=memory, usage=usage, link=np.stack(links),
              precedence=np.stack(precedence), write_weights=np.stack(writes),
              read_weights=read_weights, read_vectors=read_weights @ memory,
              allocation=allocation[0] if h == 1 else np.stack(allocation))


@functools.lru_cache(maxsize=None)
def _bigger_program(cells):
  """`run(params, x)`: `cell.apply` of each cell from its zero carry for
  `x`, one jitted program for all."""

  @jax.jit
  def run(params, x):
    return tuple(
        cell.apply(params, cell.initialize_carry(jax.random.key(0), x.shape),
                   x)
        for cell in cells)

  return run


@functools.lru_cache(maxsize=None)
def _deep_controllers():
  """`{controller: (params, x, h)}` of test_deep_controller_..., the
  `_init` of 3-layer cells and their controller output `h`: both cases'
  cells initialised and run in one jitted program."""
  cells = {c: _cell(controller=c, controller_layers=3)
           for c in ('lstm', 'feedforward')}
  x = np.random.default_rng(0).normal(size=(_B, _D)).astype(np.float32)

  @jax.jit
  def run(x):
    out = {}
    for name, cell in cells.items():
      carry = cell.initialize_carry(jax.random.key(1), x.shape)
      params = cell.init(jax.random.key(2), carry, x)
      _, h, _ = cell.apply(params, carry, x,
                           method=dnc.DNCCell.controller_step)
      out[name] = (params, h)
    return out

  return {name: (params, x, h)
          for name, (params, h) in jax.device_get(run(x)).items()}


class DNCCellTest(parameterized.TestCase):

  @parameterized.parameters(*_STEP_CASES)
  def test_step_matches_the_methods(self, strength, link_sparsity, heads):
    cells = _step_cells(heads)
    case = [c.link_sparsity for c in cells].index(link_sparsity)
    cell = cells[case]
    carries = []
    for c in cells:  # the same parameters and inputs for all three.
      params, carry, x = _init(c)
      carries.append(_random_carry(c, carry, seed=3))
    carry = carries[case]
    # The step and its controller's outputs (one compiled program for the
    # three cases), on the host: indexed below.
    (new, (y, aux)), (_, h, xi) = jax.device_get(
        _steps_program(cells)(params, tuple(carries), x))[case]
    for b in range(_B):
      want = np_step(cell, carry, b, np.float64(xi[b]))
      got = new._asdict()
      got['link'] = _dense_link(new.link, b)
      got['allocation'] = aux['allocation']
      for name, value in want.items():
        got_b = got[name] if name == 'link' else got[name][b]
        np.testing.assert_allclose(got_b, value, rtol=2e-4, atol=2e-5,
                                   err_msg=name)
      np.testing.assert_allclose(
          y[b], np.concatenate([h[b], want['read_vectors'].ravel()]),
          rtol=2e-4, atol=2e-5)
    np.testing.assert_array_equal(aux['write_weights'], new.write_weights)
    np.testing.assert_array_equal(aux['read_weights'], new.read_weights)
    # Each kind's share (backward, content, forward), over the write heads.
    self.assertEqual(aux['read_modes'].shape, (_B, 2, 3))
    np.testing.assert_allclose(aux['read_modes'].sum(-1), 1.0, rtol=1e-6)

  def test_interface_size_is_the_methods(self):
    cell = _cell(num_read_heads=3, word_size=5)
    params, carry, x = _abstract_init(cell)  # shapes only.
    _, _, xi = jax.eval_shape(functools.partial(
        cell.apply, method=dnc.DNCCell.controller_step), params, carry, x)
    self.assertEqual(xi.shape, (_B, 5 * 3 + 3 * 5 + 5 * 3 + 3))
    # Each write field per write head, and 2 H + 1 read modes per read head.
    cell = _cell(num_read_heads=3, word_size=5, num_write_heads=2)
    params, carry, x = _abstract_init(cell)
    _, _, xi = jax.eval_shape(functools.partial(
        cell.apply, method=dnc.DNCCell.controller_step), params, carry, x)
    self.assertEqual(xi.shape, (_B, 5 * 3 + 3 * 5 * 2 + 3 * (2 * 2 + 3)
                                + 3 * 2))

  def test_initial_carry(self):
    for k in (0, 4):
      cell = _cell(link_sparsity=k)
      carry = jax.device_get(jax.jit(cell.initialize_carry, static_argnums=1)(
          jax.random.key(0), (2, 6, _D)))
      self.assertEqual(carry.memory.shape, (2, 6, 7, 4))
      self.assertEqual(carry.read_weights.shape, (2, 6, 2, 7))
      self.assertEqual(carry.write_weights.shape, (2, 6, 1, 7))
      self.assertEqual(carry.precedence.shape, (2, 6, 1, 7))
      if k:
        self.assertEqual(carry.link.values.shape, (2, 6, 1, 7, 4))
        self.assertEqual(carry.link.columns.dtype, jnp.int32)
      else:
        self.assertEqual(carry.link.shape, (2, 6, 1, 7, 7))
      for leaf in jax.tree.leaves(carry):
        self.assertEqual(float(np.abs(leaf).sum()), 0.0)

  def test_first_write_allocates_and_links_follow_the_writes(self):
    # From the empty state, allocation puts all of its weight on slot 0;
    # after writes to slots 0 then 1 (forced by usage), forward from 0 is 1.
    cells = _step_cells()  # cells[0] is _cell(return_aux=True).
    carries = [_init(c)[1] for c in cells]
    params, carry, x = _init(cells[0])
    # The program of test_step_matches_the_methods, from the empty state.
    (_, (_, aux)), _ = _steps_program(cells)(params, tuple(carries), x)[0]
    np.testing.assert_allclose(aux['allocation'],
                               np.eye(7)[[0] * _B], atol=1e-6)
    n = 7

    @jax.jit  # the writes and the directional weights: one program.
    def follow(carry):
      link, prec = jnp.zeros((n, n)), jnp.zeros(n)
      for slot in (0, 1):
        w = jax.nn.one_hot(slot, n)
        link = ops.dnc_link(link, prec, w)
        prec = ops.dnc_precedence(prec, w)
      carry = carry._replace(link=jnp.broadcast_to(link, (_B, n, n)),
                             precedence=jnp.broadcast_to(prec, (_B, n)),
                             read_weights=jnp.broadcast_to(
                                 jax.nn.one_hot(0, n), (_B, 2, n)))
      return jax.vmap(ops.dnc_directional_weights)(carry.link,
                                                   carry.read_weights)

    forward, _ = jax.device_get(follow(carry))
    np.testing.assert_allclose(forward[:, 0], np.eye(n)[[1] * _B])

  def test_sparse_equals_dense_when_k_covers_memory(self):
    dense, sparse = _cell(), _cell(link_sparsity=7)
    params, _, _ = _abstract_init(dense)  # shapes only.
    x = np.float32(np.random.default_rng(4).normal(size=(_B, 9, _D)))
    models = [SequenceModel(cell=cell, output_size=3)
              for cell in (dense, sparse)]

    @jax.jit  # both models, initialised and run: one program.
    def run(x):
      out = []
      for model in models:
        mparams = model.init(jax.random.key(0), x)
        out.append((mparams, model.apply(mparams, x).logits))
      return out

    outs = []
    for mparams, logits in run(x):
      # The same cell parameters for both: the link is state, not params.
      self.assertEqual(jax.tree.map(jnp.shape, mparams['params']['cell']),
                       jax.tree.map(jnp.shape, params['params']))
      outs.append(logits)
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)

  @parameterized.parameters(0, 4)
  def test_memory_and_batch_sizes_are_free(self, k):
    cell = _cell(link_sparsity=k)
    params, _, _ = _init(cell)
    for batch, n in ((_B + 2, 20),):  # other than the init's sizes.
      x = np.ones((batch, _D), np.float32)
      # Both cases' cells (k = 0 and 4) in one program, each on its own
      # carry made in the program; this case's results.
      bigs = tuple(_cell(link_sparsity=kk, memory_size=n) for kk in (0, 4))
      new, (y, _) = _bigger_program(bigs)(params, x)[(0, 4).index(k)]
      self.assertEqual(new.memory.shape, (batch, n, 4))
      self.assertEqual(y.shape, (batch, 10 + 2 * 4))
      self.assertTrue(bool(np.all(np.isfinite(np.asarray(y)))))

  @parameterized.parameters('lstm', 'feedforward')
  def test_deep_controller_layers_read_the_input_and_the_layer_below(
      self, controller):
    # `_init` of _cell(controller=controller, controller_layers=3) and the
    # controller's output, on the host.
    params, x, h = _deep_controllers()[controller]
    self.assertEqual(h.shape, (_B, 3 * 10))
    p = params['params']
    chi = 5 + 2 * 4
    for l in range(3):
      layer = p[f'layers_{l}']
      kernel = (layer['gates']['kernel'] if controller == 'lstm'
                else layer['kernel'])
      inputs = chi + (10 if l else 0) + (10 if controller == 'lstm' else 0)
      self.assertEqual(kernel.shape[0], inputs)
    # By hand for the feed-forward controller: tanh layers with skips.
    if controller == 'feedforward':
      chi_x = np.concatenate([x, np.zeros((_B, 8))], -1)
      dense = lambda l, v: v @ p[f'layers_{l}']['kernel'] + p[
          f'layers_{l}']['bias']
      h1 = np.tanh(dense(0, chi_x))
      h2 = np.tanh(dense(1, np.concatenate([chi_x, h1], -1)))
      h3 = np.tanh(dense(2, np.concatenate([chi_x, h2], -1)))
      np.testing.assert_allclose(h, np.concatenate([h1, h2, h3], -1),
                                 rtol=1e-5, atol=1e-6)

  def test_controller_clip_and_gradient_clip(self):
    x = np.full((_B, _D), 50.0, np.float32)
    cell = _cell(controller_clip=0.5)
    params, carry, _ = _init(cell)
    carry = carry._replace(controller=tuple(
        s._replace(c=np.asarray(s.c) + 40.0) for s in carry.controller))

    # The activation-gradient clip bounds the gradient into the state.
    def grad_c(cell, params, carry, x):
      def loss(c):
        state = carry._replace(controller=(carry.controller[0]._replace(c=c),))
        out, (y, _) = cell.apply(params, state, x)
        return 1e4 * jnp.sum(out.controller[0].c) + jnp.sum(y)
      return jax.grad(loss)(carry.controller[0].c)

    @jax.jit  # the clipped step and both gradients: one program.
    def run(params, carry, x):
      new, _ = cell.apply(params, carry, x)
      return (new.controller[0].c,
              grad_c(_cell(controller_clip=0.0), params, carry, x),
              grad_c(_cell(controller_clip=0.0, activation_grad_clip=10.0),
                     params, carry, x))

    new_c, free, clipped = jax.device_get(run(params, carry, x))
    self.assertLessEqual(float(np.abs(new_c).max()), 0.5)
    self.assertGreater(float(np.abs(free).max()), 10.0)
    self.assertLessEqual(float(np.abs(clipped).max()), 10.0 + 1e-4)

  @parameterized.parameters(1, 2)
  def test_degenerate_inputs_are_finite_with_gradients(self, heads):
    # Two steps of the cell with the sparse link (the dense ops' degenerate
    # inputs: tests/ops), from the empty state and from a saturated one
    # (every slot used, reads and writes one-hot), at zero and huge inputs;
    # with one write head and with two (writing the same slot).
    cell = _cell(link_sparsity=3, num_write_heads=heads)
    params, carry, x = _init(cell)
    n = cell.memory_size
    one_hot = np.eye(n, dtype=np.float32)[np.arange(_B) % n]
    saturated = carry._replace(
        usage=np.ones(carry.usage.shape, np.float32),
        write_weights=np.repeat(one_hot[:, None], heads, axis=1),
        read_weights=np.broadcast_to(one_hot[:, None],
                                     carry.read_weights.shape))

    def loss(p, carry, x):
      for _ in range(2):
        carry, (y, _) = cell.apply(p, carry, x)
      return jnp.sum(y ** 2) + jnp.sum(carry.memory ** 2)

    value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1),
                                                allow_int=True))
    for start in (carry, saturated):
      for inputs in (np.zeros_like(x), np.full_like(x, 1e3)):
        # Checked on the host: nothing more to compile.
        value, grads = jax.device_get(value_and_grad(params, start, inputs))
        self.assertTrue(bool(np.isfinite(value)))
        for g in jax.tree.leaves(grads):
          if jnp.issubdtype(g.dtype, jnp.floating):
            self.assertTrue(bool(np.all(np.isfinite(g))))

  @parameterized.named_parameters(
      ('controller', dict(controller='gru'), 'config.model.controller'),
      ('size', dict(memory_size=0), 'config.model.memory_size'),
      ('layers', dict(controller_layers=1.5),
       'config.model.controller_layers'),
      ('strength', dict(strength='exp'), 'config.model.strength'),
      ('sparsity', dict(link_sparsity=-1), 'config.model.link_sparsity'),
      ('write_heads', dict(num_write_heads=0), 'config.model.num_write_heads'),
      ('clip', dict(controller_clip=-1.0), 'config.model.controller_clip'),
  )
  def test_bad_config_names_the_field(self, kw, message):
    with self.assertRaisesRegex(ValueError, message):
      _cell(**kw).initialize_carry(jax.random.key(0), (1, _D))


if __name__ == '__main__':
  absltest.main()
