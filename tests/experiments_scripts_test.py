"""The scripts under experiments/: each runs on a tiny trained run."""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from absl.testing import absltest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, **kw):
  return subprocess.run([sys.executable, *args], capture_output=True,
                        text=True, cwd=_ROOT, timeout=300,
                        env=dict(os.environ, PYTHONPATH=_ROOT), **kw)


def _train(test, config: str, workdir: str) -> None:
  """A tiny `memax.main` run of `config` (a `:runlocal` config)."""
  trained = _run(['-m', 'memax.main', f'--config={config}',
                  f'--workdir={workdir}', '--config.evals.plot=False'])
  test.assertEqual(trained.returncode, 0, trained.stderr[-2000:])


class LinkGradientsTest(absltest.TestCase):

  def test_dense_and_sparse_gradients_agree_where_k_covers_the_memory(self):
    with tempfile.TemporaryDirectory() as tmp:
      workdir = os.path.join(tmp, 'dnc')
      _train(self, 'configs/dnc_copy.py:runlocal', workdir)
      script = 'experiments/dnc/scripts/link_gradients.py'
      # K = N = 16 slots: the sparse link is the dense one, so are the
      # gradients; K = 1 keeps at most one entry a row (none of an
      # untrained model's diffuse writes), and the loss and the gradients
      # move.
      lines = {}
      for k in (16, 1):
        out = _run([script, f'--workdir={workdir}', '--steps=2,4',
                    f'--link_sparsity={k}', '--batch_size=8'])
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        lines[k] = [json.loads(x) for x in out.stdout.splitlines()]
        self.assertEqual([r['step'] for r in lines[k]], [2, 4])
      for r in lines[16]:
        self.assertAlmostEqual(r['loss_dense'], r['loss_sparse'], places=4)
        for part in ('all', 'controller', 'interface_but_modes',
                     'read_modes', 'readout'):
          self.assertGreater(r[part]['cosine'], 0.9999, msg=part)
          self.assertAlmostEqual(r[part]['norm_ratio'], 1.0, places=3)
      for r in lines[1]:
        self.assertGreater(abs(r['loss_dense'] - r['loss_sparse']), 1e-5)
        self.assertGreater(max(abs(r[part]['norm_ratio'] - 1.0) for part in
                               ('interface_but_modes', 'read_modes')), 0.01)


def _script(name):
  """A script under experiments/dnc/scripts/ as a module."""
  spec = importlib.util.spec_from_file_location(
      name, os.path.join(_ROOT, 'experiments', 'dnc', 'scripts', f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


class SortErrorsTest(absltest.TestCase):
  """`sort_errors.analyse` on hand-made sequences: N = 4 items of 3 bits,
  M = 3 wanted."""

  def setUp(self):
    super().setUp()
    self.m = _script('sort_errors')
    # Items 0..3 with priorities 0.1, 0.9, -0.5, 0.5: ranking 1, 3, 0, 2
    # (gaps to the nearest neighbour in the ranking: 0.4, 0.4, 0.4, 0.6).
    self.items = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]],
                          np.float32)
    priority = np.array([0.1, 0.9, -0.5, 0.5], np.float32)
    x = np.zeros((8, 5), np.float32)   # T = N + M + 1 = 8 steps
    x[:4, :3] = self.items
    x[:4, 3] = priority
    x[4, 4] = 1.0
    self.inputs = x[None]

  def _answer(self, *rows):
    y = np.zeros((1, 8, 3), np.float32)
    y[0, 5:8] = np.array(rows, np.float32)
    return y

  def test_right_swapped_blend_and_dropped(self):
    analyse = lambda y: self.m.analyse(self.inputs, y, 4, 3)
    it = self.items
    perfect = analyse(self._answer(it[1], it[3], it[0]))
    self.assertEqual(perfect['bit_errors_per_sequence'], 0.0)
    self.assertEqual(perfect['perfect_sequences'], 1.0)
    self.assertEqual(perfect['steps_right'], 1.0)
    # The first two swapped: two wrong vectors, one rank away each;
    # items 1 and 3 differ in 2 bits.
    swapped = analyse(self._answer(it[3], it[1], it[0]))
    self.assertEqual(swapped['bit_errors_per_sequence'], 4.0)
    self.assertAlmostEqual(swapped['steps_wrong_vector'], 2 / 3, places=4)
    self.assertEqual(swapped['wrong_vector_rank_shift'],
                     {'1': 2, '2': 0, '>2': 0, 'dropped_item': 0})
    self.assertEqual(swapped['bit_errors_by_position'], [2.0, 2.0, 0.0])
    self.assertEqual(swapped['bit_errors_on_wrong_vector'], 1.0)
    # All three due items have a gap of 0.4 to a neighbour: bin 0.2-inf.
    last = swapped['by_gap'][-1]
    self.assertEqual(last['steps'], 3)
    self.assertAlmostEqual(last['wrong_vector'], 2 / 3, places=4)
    # One bit off item 1 ([1, 1, 0]) is as near item 3 as item 1: a tie,
    # which goes to the item due: a blend, not a wrong vector.
    blend = analyse(self._answer([1, 1, 0], it[3], it[0]))
    self.assertAlmostEqual(blend['steps_blend'], 1 / 3, places=4)
    self.assertEqual(blend['steps_wrong_vector'], 0.0)
    # The dropped item (item 2, rank 3) emitted last: a wrong vector.
    dropped = analyse(self._answer(it[1], it[3], it[2]))
    self.assertEqual(dropped['wrong_vector_rank_shift'],
                     {'1': 1, '2': 0, '>2': 0, 'dropped_item': 1})
    self.assertEqual(dropped['bit_errors_per_sequence'], 2.0)

  def test_script_on_a_tiny_trained_run(self):
    with tempfile.TemporaryDirectory() as tmp:
      workdir = os.path.join(tmp, 'sort')
      _train(self, 'configs/dnc_priority_sort.py:runlocal', workdir)
      script = 'experiments/dnc/scripts/sort_errors.py'
      out = _run([script, f'--workdir={workdir}', '--sequences=40',
                  '--batch_size=16'])
      self.assertEqual(out.returncode, 0, out.stderr[-2000:])
      r = json.loads(out.stdout)
      self.assertEqual(r['sequences'], 40)
      self.assertLen(r['bit_errors_by_position'], 4)  # runlocal: M = 4
      self.assertAlmostEqual(r['steps_right'] + r['steps_wrong_vector']
                             + r['steps_blend'], 1.0, places=3)
      self.assertEqual(sum(b['steps'] for b in r['by_gap']), 40 * 4)
      empty = _run([script, f'--workdir={tmp}'])
      self.assertNotEqual(empty.returncode, 0)
      self.assertIn('config.json not found', empty.stderr)
      self.assertNotIn('Traceback', empty.stderr)


if __name__ == '__main__':
  absltest.main()
