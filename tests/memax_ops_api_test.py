"""Public API of `memax.ops`: names, argument order, keyword-only eps."""

import inspect

from absl.testing import absltest
from absl.testing import parameterized
import jax

from memax import ops
from memax.ops import addressing
from memax.ops import attention
from memax.ops import dnc
from memax.ops import lrua
from memax.ops import memory

_POS = inspect.Parameter.POSITIONAL_OR_KEYWORD
_KW = inspect.Parameter.KEYWORD_ONLY

# name -> (defining module, array arguments in order, keyword-only args).
_API = {
    'oneplus': (addressing, ('x',), ()),
    'cosine_similarity': (addressing, ('memory', 'key'), ('eps',)),
    'content_weights': (
        addressing, ('memory', 'key', 'strength'), ('eps',)),
    'interpolate': (
        addressing, ('content_weights', 'prev_weights', 'gate'), ()),
    'circular_shift': (addressing, ('weights', 'shift'), ()),
    'sharpen': (addressing, ('weights', 'gamma'), ('eps',)),
    'address': (
        addressing,
        ('memory', 'prev_weights', 'key', 'strength', 'gate', 'shift',
         'gamma'),
        ('eps',)),
    'read': (memory, ('memory', 'weights'), ()),
    'write': (memory, ('memory', 'weights', 'erase', 'add'), ()),
    'multi_write': (memory, ('memory', 'weights', 'erase', 'add'), ()),
    'position_encoding': (
        attention, ('sentence_size', 'embedding_size'),
        ('length', 'centered')),
    'position_encoding_weights': (
        attention, ('words', 'embedding_size'), ()),
    'centered_position_encoding_weights': (
        attention, ('words', 'embedding_size'), ()),
    'bag_of_words': (attention, ('embeddings', 'words'), ('weights',)),
    'masked_softmax': (attention, ('logits', 'mask'), ()),
    'memory_attention': (
        attention, ('memory_keys', 'query', 'mask'), ('linear',)),
    'memory_read': (attention, ('values', 'weights'), ()),
    'memory_age': (attention, ('mask',), ('gaps',)),
    'lrua_usage': (
        lrua, ('prev_usage', 'read_weights', 'write_weights'), ('decay',)),
    'least_used': (lrua, ('usage',), ('num',)),
    'lrua_write_weights': (
        lrua, ('prev_read_weights', 'prev_least_used', 'gate'), ()),
    'dnc_usage': (
        dnc, ('prev_usage', 'prev_write_weights', 'prev_read_weights',
              'free_gates'), ()),
    'dnc_allocation': (dnc, ('usage',), ()),
    'dnc_write_weights': (
        dnc, ('allocation', 'write_content_weights', 'allocation_gate',
              'write_gate'), ()),
    'dnc_precedence': (dnc, ('prev_precedence', 'write_weights'), ()),
    'dnc_link': (
        dnc, ('prev_link', 'prev_precedence', 'write_weights'), ()),
    'dnc_directional_weights': (dnc, ('link', 'prev_read_weights'), ()),
    'dnc_link_and_directional': (dnc, ('prev_link', 'prev_precedence',
                                       'write_weights', 'prev_read_weights'),
                                 ()),
    'dnc_read_weights': (
        dnc, ('backward', 'content', 'forward', 'read_modes'), ()),
    'dnc_multi_usage': (
        dnc, ('prev_usage', 'prev_write_weights', 'prev_read_weights',
              'free_gates'), ()),
    'dnc_multi_allocation': (dnc, ('usage', 'gates'), ()),
    'dnc_multi_read_weights': (
        dnc, ('backward', 'content', 'forward', 'read_modes'), ()),
    'SparseLink': (dnc, ('values', 'columns'), ()),
    'dnc_sparsify': (dnc, ('weights',), ('k',)),
    'dnc_sparse_link': (
        dnc, ('prev_link', 'prev_precedence', 'write_weights'), ()),
    'dnc_sparse_directional_weights': (
        dnc, ('link', 'prev_read_weights'), ()),
    'dnc_sparse_link_to_dense': (dnc, ('link',), ()),
}

# Keyword-only hyper-parameters that every caller must give.
_REQUIRED = {'decay', 'num', 'k'}


class MemaxOpsApiTest(parameterized.TestCase):

  def test_all_lists_exactly_the_public_ops(self):
    self.assertCountEqual(ops.__all__, _API)

  @parameterized.named_parameters(*((name, name) for name in _API))
  def test_reexport_is_the_module_function(self, name):
    module = _API[name][0]
    self.assertTrue(hasattr(ops, name))
    self.assertIs(getattr(ops, name), getattr(module, name))

  @parameterized.named_parameters(*((name, name) for name in _API))
  def test_signature(self, name):
    _, arrays, keyword_only = _API[name]
    params = list(inspect.signature(getattr(ops, name)).parameters.values())
    self.assertEqual(
        [(p.name, p.kind) for p in params],
        [(a, _POS) for a in arrays] + [(k, _KW) for k in keyword_only])
    for p in params:
      if p.kind == _POS or p.name in _REQUIRED:
        self.assertIs(p.default, inspect.Parameter.empty, msg=p.name)
      elif isinstance(p.default, float):  # eps: small and positive.
        self.assertGreater(p.default, 0.0, msg=p.name)
        self.assertLess(p.default, 1e-3, msg=p.name)
      else:  # Options default to off.
        self.assertIn(p.default, (None, False), msg=p.name)


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
