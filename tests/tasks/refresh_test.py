"""Tests for the memory refreshing loss (`memax.tasks.refresh`): the
refreshable steps of copy and associative recall on hand-made batches,
`alpha` of each kind, the reconstruction costs against NumPy, the drawn
steps, the wrapper's outputs and evaluations, the trainer's total
`alpha * task + refresh`, config errors, and a DAM run with the loss that
trains, logs its terms and resumes.
"""

import dataclasses
import os
import shutil
import tempfile

from absl.testing import absltest
import jax
import jax.numpy as jnp
import numpy as np

from configs import train as train_config
from memax import tasks
from memax.tasks import refresh
from memax.training import step as step_lib
from memax.training import train
from memax.training import writers
from memax.types import Batch, ModelOutput


def _sigmoid_xent(z, y):
  return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))


@dataclasses.dataclass(frozen=True)
class _Fake:
  """A task of hand-made batches declaring the loss of kind `r` / `a`."""

  refresh_reconstruction: str
  refresh_alpha: str
  output_size: int = 2
  input_size: int = 3
  name: str = 'fake'

  def refresh_steps(self, batch):
    return batch.mask * 0 + (batch.mask == 0)

  def loss(self, logits, batch):
    del batch
    return jnp.sum(logits[..., 0])

  def metrics(self, logits, batch):
    del batch
    return {'first': jnp.mean(logits[..., 0])}


def _batch(refresh_rows, mask_rows, inputs=None):
  refresh_rows = np.float32(refresh_rows)
  mask = np.float32(mask_rows)
  if inputs is None:
    inputs = np.random.default_rng(0).uniform(
        size=mask.shape + (3,)).astype(np.float32)
  return Batch(inputs=inputs, targets=np.zeros(mask.shape, np.int32),
               mask=mask, refresh=refresh_rows)


class RefreshableStepsTest(absltest.TestCase):

  def test_copy_marks_the_data_rows_of_every_input_phase(self):
    # Two copies in a row of lengths 2 and 1, then padding: rows, the
    # delimiter channel last.
    delim = np.float32([0, 0, 1, 0, 0, 0, 1, 0, 0, 0])
    mask = np.float32([0, 0, 0, 1, 1, 0, 0, 1, 0, 0])
    inputs = np.zeros((1, 10, 4), np.float32)
    inputs[0, :, -1] = delim
    batch = Batch(inputs, np.zeros((1, 10, 3), np.float32), mask[None])
    got = tasks.Copy(num_bits=3).refresh_steps(batch)
    np.testing.assert_array_equal(got[0], [1, 1, 0, 0, 0, 1, 0, 0, 0, 0])

  def test_associative_recall_marks_the_stored_items_vectors(self):
    # Items of 2 vectors: [delim, v, v] x 2, the query [q, v, v, q], output.
    item = np.float32([1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    query = np.float32([0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0])
    inputs = np.zeros((1, 13, 5), np.float32)
    inputs[0, :, -2], inputs[0, :, -1] = item, query
    batch = Batch(inputs, np.zeros((1, 13, 3), np.float32),
                  np.zeros((1, 13), np.float32))
    got = tasks.AssociativeRecall(num_bits=3, item_length=2).refresh_steps(
        batch)
    np.testing.assert_array_equal(got[0], [0, 1, 1, 0, 1, 1] + [0] * 7)

  def test_every_dam_task_declares_the_loss(self):
    for task in (tasks.Copy(), tasks.AssociativeRecall(),
                 tasks.NthFarthest(), tasks.ConvexHull(),
                 tasks.RepresentationRecall()):
      refresh.check_supported(task)


class IssueTableTest(absltest.TestCase):

  def test_each_task_declares_its_reconstruction_and_alpha(self):
    # The DAM code's table (issue 18): the reconstruction through the
    # task's output (bits, the vocabulary's softmax) or extra units
    # (squared error), and alpha per target step, per example, or per
    # answer step without the floor of 1 (bAbI).
    from memax.tasks import babi_words  # pylint: disable=g-import-not-at-top
    expected = {tasks.Copy: ('bits', 'per_target'),
                tasks.AssociativeRecall: ('bits', 'per_target'),
                tasks.NthFarthest: ('squared', 'per_example'),
                tasks.ConvexHull: ('squared', 'per_target'),
                babi_words.BabiWordsTask: ('softmax', 'per_target_unfloored')}
    for task, (reconstruction, alpha) in expected.items():
      self.assertEqual((task.refresh_reconstruction, task.refresh_alpha),
                       (reconstruction, alpha), msg=task.__name__)
    # Representation recall has no refreshable step: alpha is 1.
    wrapped = refresh.Refreshing(tasks.RepresentationRecall(), 0.5)
    batch = wrapped.sample(jax.random.key(0), 4)
    self.assertEqual(float(jnp.sum(batch.refresh)), 0.0)
    self.assertEqual(float(wrapped.alpha(batch)), 1.0)


class AlphaAndCostsTest(absltest.TestCase):

  def test_alpha_of_each_kind(self):
    # 5 refreshed steps, 2 target steps, 2 examples.
    batch = _batch([[1, 1, 1, 0], [1, 1, 0, 0]], [[0, 0, 0, 1], [0, 0, 0, 1]])
    alpha = lambda kind: float(refresh.Refreshing(
        _Fake('squared', kind), 0.5).alpha(batch))
    self.assertAlmostEqual(alpha('per_target'), 2.5)
    self.assertAlmostEqual(alpha('per_example'), 2.5)
    self.assertAlmostEqual(alpha('per_target_unfloored'), 2.5)
    few = _batch([[1, 0, 0, 0], [0, 0, 0, 0]], [[0, 1, 1, 1], [0, 0, 1, 1]])
    alpha = lambda kind: float(refresh.Refreshing(
        _Fake('squared', kind), 0.5).alpha(few))
    self.assertEqual(alpha('per_target'), 1.0)  # 1 / 5, floored
    self.assertEqual(alpha('per_example'), 1.0)  # 1 / 2, floored
    self.assertAlmostEqual(alpha('per_target_unfloored'), 0.2)

  def test_reconstruction_costs_against_numpy(self):
    rng = np.random.default_rng(1)
    refreshed = np.float32([[1, 0, 1, 0], [0, 1, 0, 0]])
    mask = np.float32([[0, 0, 0, 1], [0, 0, 1, 1]])
    bits = (rng.uniform(size=(2, 4, 3)) > 0.5).astype(np.float32)
    logits = rng.normal(size=(2, 4, 2 + 3)).astype(np.float32)
    # 'bits': the first O = 2 outputs against the first 2 input bits, in
    # bits, over the batch's 2 examples.
    cost = refresh.Refreshing(_Fake('bits', 'per_target'), 0.5).refresh_loss(
        logits, _batch(refreshed, mask, bits))
    want = sum(_sigmoid_xent(logits[b, t, :2], bits[b, t, :2]).sum()
               for b, t in zip(*np.nonzero(refreshed))) / np.log(2) / 2
    self.assertAlmostEqual(float(cost), want, places=5)
    # 'squared': the D = 3 extra outputs against the whole input, the mean
    # over its features, over the 3 target steps.
    cost = refresh.Refreshing(_Fake('squared', 'per_target'),
                              0.5).refresh_loss(
                                  logits, _batch(refreshed, mask, bits))
    want = sum(np.mean((logits[b, t, 2:] - bits[b, t]) ** 2)
               for b, t in zip(*np.nonzero(refreshed))) / 3
    self.assertAlmostEqual(float(cost), want, places=5)
    # 'softmax': the O outputs as a distribution over token ids.
    ids = np.int32([[1, 0, 1, 0], [0, 0, 1, 1]])
    cost = refresh.Refreshing(_Fake('softmax', 'per_target'),
                              0.5).refresh_loss(
                                  logits, _batch(refreshed, mask, ids))
    log_p = logits[..., :2] - np.log(np.exp(logits[..., :2]).sum(-1,
                                                                 keepdims=True))
    want = -sum(log_p[b, t, ids[b, t]]
                for b, t in zip(*np.nonzero(refreshed))) / 3
    self.assertAlmostEqual(float(cost), want, places=5)

  def test_trainer_total_is_alpha_times_task_plus_refresh(self):
    task = refresh.Refreshing(_Fake('squared', 'per_target'), 0.5)
    batch = _batch([[1, 1, 1, 0], [1, 1, 0, 0]], [[0, 0, 0, 1], [0, 0, 0, 1]])
    logits = np.random.default_rng(2).normal(size=(2, 4, 5)).astype(
        np.float32)
    out = ModelOutput(logits, {}, {})
    terms = step_lib.loss_terms(task, out, batch, {}, ('task',))
    self.assertEqual(set(terms), {'task', 'refresh'})
    self.assertAlmostEqual(float(terms['task']), logits[..., 0].sum(),
                           places=4)
    total = step_lib.weighted_total(terms, {'task': 1.0},
                                    task.loss_scales(batch))
    self.assertAlmostEqual(float(total),
                           2.5 * float(terms['task'])
                           + float(terms['refresh']), places=4)


class WrapperTest(absltest.TestCase):

  def test_drawn_steps_are_refreshable_at_rate_p(self):
    task = refresh.Refreshing(tasks.NthFarthest(), 0.3)
    self.assertEqual(task.output_size, 8 + 40)  # the extra input units
    self.assertEqual(task.input_size, 40)
    batch = jax.jit(task.train_batch, static_argnums=2)(
        jax.random.key(0), jnp.int32(3), 400)
    self.assertAlmostEqual(float(jnp.mean(batch.refresh)), 0.3, delta=0.03)
    # The task's batch of that step is unchanged.
    plain = jax.jit(tasks.NthFarthest().train_batch, static_argnums=2)(
        jax.random.key(0), jnp.int32(3), 400)
    np.testing.assert_array_equal(batch.inputs, plain.inputs)
    copy = refresh.Refreshing(tasks.Copy(max_length=5), 1.0)
    batch = jax.jit(copy.sample, static_argnums=1)(jax.random.key(1), 8)
    np.testing.assert_array_equal(batch.refresh,
                                  tasks.Copy().refresh_steps(batch))

  def test_evaluations_score_the_tasks_outputs(self):
    task = refresh.Refreshing(tasks.ConvexHull(max_points=5,
                                               eval_points=(4,)), 0.3)
    evals = task.evals()
    self.assertEqual(sorted(evals), ['points_4', 'train'])
    variant = evals['points_4'].task
    self.assertEqual(variant.output_size, 6 + 8)
    batch = jax.jit(variant.sample, static_argnums=1)(jax.random.key(0), 4)
    self.assertIsNone(batch.refresh)
    logits = 5.0 * jax.nn.one_hot(batch.targets, 6)
    extra = jnp.concatenate([logits, jnp.full(logits.shape[:2] + (8,), 9.0)],
                            -1)
    self.assertEqual(float(variant.metrics(extra, batch)['error']), 0.0)
    np.testing.assert_allclose(variant.probabilities(extra),
                               jax.nn.softmax(logits), rtol=1e-6)

  def test_errors_name_the_field(self):
    with self.assertRaisesRegex(ValueError,
                                'config.train.refresh_probability'):
      refresh.Refreshing(tasks.Copy(), 1.5)
    with self.assertRaisesRegex(ValueError,
                                'config.train.refresh_probability.*ngrams'):
      refresh.Refreshing(tasks.DynamicNGrams(), 0.1)
    self.assertIs(refresh.wrap(tasks.Copy(), 0.0).__class__, tasks.Copy)


class TrainingTest(absltest.TestCase):

  def test_dam_with_the_loss_trains_logs_its_terms_and_resumes(self):
    workdir = os.path.join(tempfile.mkdtemp(), 'dam')
    self.addCleanup(shutil.rmtree, os.path.dirname(workdir),
                    ignore_errors=True)
    config = train_config.get_config('model=dam,task=copy,runlocal')
    config.model.update(controller_size=8, memory_size=6, word_size=4)
    config.train.refresh_probability = 0.5
    config.tensorboard = False
    # The final evaluation reuses the periodic one's program: no plots and
    # no other variants to compile (the checks read the training log).
    config.evals.plot = False
    config.evals.variants = 'train'
    results = train.train_and_evaluate(config, workdir)
    lines = [r for r in writers.read_metrics(workdir)
             if r['split'] == 'train']
    for name in ('loss_task', 'loss_refresh', 'refresh_alpha', 'loss'):
      self.assertTrue(np.isfinite(lines[-1][name]), name)
    self.assertGreaterEqual(lines[-1]['refresh_alpha'], 1.0)
    self.assertGreater(lines[-1]['loss_refresh'], 0.0)
    again = train.train_and_evaluate(config, workdir)
    self.assertEqual(again['step'], results['step'])


if __name__ == '__main__':
  absltest.main()
