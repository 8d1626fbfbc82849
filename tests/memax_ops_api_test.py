"""Public API of `memax.ops`: names, argument order, keyword-only eps."""

import inspect

from absl.testing import absltest
from absl.testing import parameterized
import jax

from memax import ops
from memax.ops import addressing
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
}


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
      if p.kind == _POS:
        self.assertIs(p.default, inspect.Parameter.empty, msg=p.name)
      else:  # Hyper-parameters have small positive float defaults.
        self.assertIsInstance(p.default, float, msg=p.name)
        self.assertGreater(p.default, 0.0, msg=p.name)
        self.assertLess(p.default, 1e-3, msg=p.name)


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
