"""Tests for `memax.analysis`: read modes, read hits and the link comparison.

The link is checked against a NumPy reference written from the DNC paper's
equations (Methods: `p_t = (1 - sum_i w_i) p_{t-1} + w_t`,
`L_ij = (1 - w_i - w_j) L_ij + w_i p_j`, zero diagonal); the copy layout
against the copy task's own examples; the read hits on hand-made weights.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from absl.testing import absltest
import jax
import numpy as np

from memax import analysis
from memax.tasks import copy

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def np_link(write_weights):
  """The dense link after every write of `write_weights [T, N]`, float64."""
  n = write_weights.shape[1]
  link, prec = np.zeros((n, n)), np.zeros(n)
  for w in write_weights.astype(np.float64):
    new = np.zeros((n, n))
    for i in range(n):
      for j in range(n):
        if i != j:
          new[i, j] = (1 - w[i] - w[j]) * link[i, j] + w[i] * prec[j]
    link, prec = new, (1 - w.sum()) * prec + w
  return link


def _one_hot(slots, n):
  return np.eye(n, dtype=np.float32)[np.asarray(slots)]


class CopyAlignmentTest(absltest.TestCase):

  def test_pairs_the_copy_tasks_inputs_with_their_targets(self):
    task = copy.Copy(num_bits=4, min_length=1, max_length=6)
    batch = jax.tree.map(np.asarray, task.sample(jax.random.key(0), 16))
    lengths = set()
    for b in range(16):
      stored, output = analysis.copy_alignment(batch.mask[b])
      lengths.add(len(output))
      # The i-th output's target is the i-th stored step's input bits.
      np.testing.assert_array_equal(batch.targets[b, output],
                                    batch.inputs[b, stored, :4])
    self.assertGreater(len(lengths), 1)  # several lengths were checked.

  def test_rejects_masks_that_do_not_fit(self):
    with self.assertRaisesRegex(ValueError, 'no output steps'):
      analysis.copy_alignment(np.zeros(5))
    with self.assertRaisesRegex(ValueError, 'not the copy layout'):
      analysis.copy_alignment(np.array([0, 1, 1, 1, 0.]))
    with self.assertRaisesRegex(ValueError, r'one example \[T\]'):
      analysis.copy_alignment(np.zeros((2, 5)))


class ReadTest(absltest.TestCase):

  def test_read_mode_shares_average_the_given_steps(self):
    modes = np.zeros((4, 2, 3))
    modes[:, 0] = [0, 0, 1]            # head 0: forward everywhere
    modes[:2, 1] = [0, 1, 0]           # head 1: content, then backward
    modes[2:, 1] = [1, 0, 0]
    np.testing.assert_allclose(
        analysis.read_mode_shares(modes, np.array([1, 2, 3])),
        [[0, 0, 1], [2 / 3, 1 / 3, 0]])
    with self.assertRaisesRegex(ValueError, 'read_modes'):
      analysis.read_mode_shares(np.zeros((4, 2, 2)), np.arange(4))

  def test_read_hits_find_each_heads_lead(self):
    n, slots = 8, [5, 2, 7, 0, 3]
    length = len(slots)
    steps = 2 * length + 1
    write = np.zeros((steps, 1, n), np.float32)
    write[:length, 0] = 0.9 * _one_hot(slots, n) + 0.1 / n
    stored, output = np.arange(length), np.arange(length + 1, steps)
    rng = np.random.default_rng(0)
    read = rng.uniform(0, 0.1, (steps, 3, n)).astype(np.float32)
    for i, t in enumerate(output):
      read[t, 0, slots[i]] = 1.0                   # the slot due
      if i + 2 < length:
        read[t, 1, slots[i + 2]] = 1.0             # two items ahead
      read[t, 2, 1] = 1.0                          # never written
    shares, leads = analysis.read_hits(read, write, stored, output)
    np.testing.assert_allclose(shares, [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(leads[:2], [0, 2])
    # One head off at one output: 4 of 5.
    read[output[3], 0, slots[3]] = 0.0
    shares, _ = analysis.read_hits(read, write, stored, output)
    self.assertAlmostEqual(shares[0], 0.8)
    with self.assertRaisesRegex(ValueError, 'expected pairs'):
      analysis.read_hits(read, write, stored[:-1], output)
    with self.assertRaisesRegex(ValueError, 'over 16 slots'):
      analysis.read_hits(np.concatenate([read, read], -1), write, stored,
                         output)


class LinkComparisonTest(absltest.TestCase):

  def test_dense_against_the_reference_and_sparse_with_k_n(self):
    rng = np.random.default_rng(1)
    n, steps = 6, 9
    logits = rng.normal(0, 2, (steps, n))
    write = (0.9 * np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
             ).astype(np.float32)
    stored = np.arange(5)
    got = analysis.link_comparison(write[:, None], n, stored)
    ref = np_link(write)
    slots = write[stored].argmax(-1)
    self.assertAlmostEqual(got['next_dense'],
                           ref[slots[1:], slots[:-1]].mean(), places=5)
    self.assertAlmostEqual(got['mass_dense'], ref.sum(), places=4)
    self.assertAlmostEqual(got['mass_sparse'], got['mass_dense'], places=4)
    # K = N keeps every entry: the two links are the same matrix.
    self.assertAlmostEqual(got['next_sparse'], got['next_dense'], places=5)
    self.assertLess(got['max_abs_diff'], 1e-5)
    # K = 1 drops entries: the matrices differ, the figures stay finite.
    small = analysis.link_comparison(write, 1, stored)
    self.assertGreater(small['max_abs_diff'], 1e-3)
    self.assertLess(small['mass_sparse'], small['mass_dense'])
    self.assertTrue(np.isfinite(list(small.values())).all())

  def test_sharp_writes_in_order_link_each_slot_to_the_next(self):
    write = _one_hot([3, 1, 2, 5], 6)
    got = analysis.link_comparison(write, 2, np.arange(4))
    self.assertAlmostEqual(got['next_dense'], 1.0, places=6)
    self.assertAlmostEqual(got['next_sparse'], 1.0, places=6)

  def test_bad_inputs_name_the_problem(self):
    write = _one_hot([0, 1, 2], 4)
    with self.assertRaisesRegex(ValueError, 'link_sparsity=5'):
      analysis.link_comparison(write, 5, np.arange(3))
    with self.assertRaisesRegex(ValueError, '2 write heads'):
      analysis.link_comparison(np.stack([write, write], 1), 2, np.arange(3))


class CommandTest(absltest.TestCase):

  def _tempdir(self):
    folder = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, folder)
    return folder

  def _save(self, **arrays):
    folder = self._tempdir()
    path = os.path.join(folder, 'length_4.npz')
    np.savez(path, **arrays)
    return folder, path

  def _copy_example(self):
    n, slots = 6, [4, 0, 3, 1]
    steps = 9
    write = np.zeros((steps, 1, n), np.float32)
    write[:4, 0] = _one_hot(slots, n)
    read = np.zeros((steps, 2, n), np.float32)
    read[5:, 0] = _one_hot(slots, n)               # head 0 hits, lead 0
    read[5:, 1, 2] = 1.0                           # head 1 never does
    modes = np.zeros((steps, 2, 3), np.float32)
    modes[:, 0, 2] = 1.0
    modes[:, 1, 1] = 1.0
    mask = np.zeros(steps, np.float32)
    mask[5:] = 1.0
    return dict(mask=mask, **{'aux.write_weights': write,
                              'aux.read_weights': read,
                              'aux.read_modes': modes})

  def test_prints_one_line_per_file(self):
    folder, path = self._save(**self._copy_example())
    out = subprocess.run(
        [sys.executable, '-m', 'memax.analysis', f'--arrays={folder}',
         '--link_sparsity=2'], capture_output=True, text=True, cwd=_REPO,
        env=dict(os.environ, PYTHONPATH=_REPO), check=True)
    lines = out.stdout.strip().splitlines()
    self.assertLen(lines, 1)
    got = json.loads(lines[0])
    self.assertEqual(got['file'], path)
    self.assertEqual(got['variant'], 'length_4')
    self.assertEqual(got['read_modes']['forward'], [1.0, 0.0])
    self.assertEqual(got['heads_forward'], 1)
    self.assertEqual(got['read_hits'][0], 1.0)
    self.assertEqual(got['read_lead'][0], 0)
    self.assertEqual(got['read_hits'][1], 0.0)
    self.assertAlmostEqual(got['link']['next_dense'], 1.0)

  def test_missing_arrays_are_named(self):
    arrays = self._copy_example()
    del arrays['aux.read_weights']
    _, path = self._save(**arrays)
    with self.assertRaisesRegex(ValueError, "no array 'aux.read_weights'"):
      analysis.analyse(path)
    empty = self._tempdir()
    with self.assertRaisesRegex(ValueError, 'no .npz in this folder'):
      analysis.npz_files([empty])
    with self.assertRaisesRegex(ValueError, 'neither an .npz file'):
      analysis.npz_files([os.path.join(empty, 'nothing.npz')])


if __name__ == '__main__':
  absltest.main()
