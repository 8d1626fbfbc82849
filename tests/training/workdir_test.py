"""Workdirs that never lose or mix results: locks, resume, checks, guards."""

import gc
import glob
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import warnings

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np

from configs import train as train_config
from memax import evaluate
from memax import tasks
from memax.tasks import copy as copy_task
from memax.training import checkpoint
from memax.training import guards
from memax.training import setup
from memax.training import train
from memax.training import workdir as workdir_lib
from memax.training import writers
from tests.training import workdir_testing

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _config(num_steps=4, **train_fields):
  # The LSTM: what is tested here does not depend on the model, and the
  # LSTM traces and compiles in a fraction of the NTM's time.
  config = train_config.get_config('model=lstm,task=copy,runlocal')
  config.train.num_steps = num_steps
  config.train.update(train_fields)
  config.evals.plot = False
  return config


def _state(workdir, config, subdir='checkpoints'):
  abstract = setup.abstract_state(config)
  mngr = checkpoint.manager(workdir, read_only=True, subdir=subdir)
  return checkpoint.restore(mngr, abstract)


class TempDirMixin:

  def tmpdir(self) -> str:
    path = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, path, ignore_errors=True)
    return path


def _tensorboard_steps(workdir: str, tag: str) -> list[int]:
  """Steps of `tag` as TensorBoard shows them, purges applied.

  Reads the event files (TFRecord framing) in order; a `SessionLog.START`
  event at step `P` hides the earlier events at steps `>= P`, as
  TensorBoard does for a restarted run.
  """
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  seen = []
  for path in sorted(glob.glob(os.path.join(workdir, 'tensorboard', '*'))):
    with open(path, 'rb') as f:
      data = f.read()
    pos = 0
    while pos + 12 <= len(data):
      (length,) = struct.unpack('<Q', data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      pos += 12 + length + 4
      if event.HasField('session_log') and event.session_log.status == 1:
        seen = [s for s in seen if s < event.step]
      for value in event.summary.value:
        if value.tag == tag:
          seen.append(event.step)
  return seen


class ResumeTest(TempDirMixin, parameterized.TestCase):

  def test_a_resume_logs_each_step_once(self):
    workdir = self.tmpdir()
    train.train_and_evaluate(_config(8, ckpt_every=4), workdir)
    # As if killed after logging step 8 but before its checkpoint.
    shutil.rmtree(os.path.join(workdir, 'checkpoints', '8'))
    train.train_and_evaluate(_config(8, ckpt_every=4), workdir)
    records = writers.read_metrics(workdir)
    for split in ('train', 'eval/train', 'final/train'):
      steps = [r['step'] for r in records if r['split'] == split]
      self.assertEqual(steps, sorted(set(steps)), split)
    self.assertEqual([r['step'] for r in records if r['split'] == 'train'],
                     [0, 2, 4, 6, 8])
    self.assertEqual(_tensorboard_steps(workdir, 'train/loss'),
                     [0, 2, 4, 6, 8])
    self.assertEqual(_tensorboard_steps(workdir, 'eval/train/cost_bits'),
                     [2, 4, 6, 8])

  def test_saves_between_logs_log_each_step_once(self):
    workdir = self.tmpdir()
    train.train_and_evaluate(_config(8, ckpt_every=2, log_every=4,
                                     eval_every=4), workdir)
    self.assertEqual([r['step'] for r in writers.read_metrics(workdir)
                      if r['split'] == 'train'], [0, 4, 8])

  def test_an_unreadable_latest_checkpoint_resumes_from_the_one_before(self):
    straight = self.tmpdir()
    train.train_and_evaluate(_config(6), straight)
    workdir = self.tmpdir()
    train.train_and_evaluate(_config(4), workdir)
    workdir_testing.damage(workdir, 4, 'truncated_file')
    damaged = workdir_testing.snapshot(
        os.path.join(workdir, 'checkpoints', '4'))
    with self.assertLogs(level='WARNING') as logs:
      train.train_and_evaluate(_config(6), workdir)
    text = '\n'.join(logs.output)
    self.assertIn('Checkpoint 4', text)
    self.assertIn('resuming from step 2', text)
    # The damaged checkpoint was moved aside, not deleted, and step 4 was
    # trained again: the run ends as the uninterrupted one.
    moved = os.path.join(workdir, checkpoint.UNREADABLE_DIR, '4')
    self.assertEqual(workdir_testing.snapshot(moved), damaged)
    self.assertEqual(checkpoint.all_steps(workdir), [2, 4, 6])
    a, b = _state(straight, _config()), _state(workdir, _config())
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
      np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)

  def test_a_shape_changing_resume_changes_nothing(self):
    workdir = self.tmpdir()
    train.train_and_evaluate(_config(2), workdir)
    before = workdir_testing.snapshot(workdir)
    config = _config(4)
    config.model.hidden_size = 12  # 16 in the run.
    config.optimizer.learning_rate = 3e-4  # not a shape: not named.
    with self.assertRaisesRegex(
        ValueError, r'Cannot resume .*: config\.model\.hidden_size '
        r'\(16 in the run, 12 now\) changes the shapes'):
      train.train_and_evaluate(config, workdir)
    self.assertEqual(workdir_testing.snapshot(workdir), before)
    # The workdir still evaluates as trained.
    self.assertEqual(evaluate.run(workdir, [])['checkpoint_step'], 2)

  def test_no_readable_checkpoint_is_an_error_that_changes_nothing(self):
    workdir = self.tmpdir()
    train.train_and_evaluate(_config(2), workdir)
    workdir_testing.damage(workdir, 2, 'deleted_default')
    before = workdir_testing.snapshot(workdir)
    with self.assertRaisesRegex(FileNotFoundError,
                                'No checkpoint .* could be read: step 2'):
      train.train_and_evaluate(_config(4), workdir)
    self.assertEqual(workdir_testing.snapshot(workdir), before)


_HOLD_SCRIPT = '''
import sys, time
from memax.training import workdir
with workdir.lock(sys.argv[1]):
  print('held', flush=True)
  time.sleep(600)
'''


class LockTest(TempDirMixin, absltest.TestCase):

  def _holder(self, workdir):
    proc = subprocess.Popen([sys.executable, '-c', _HOLD_SCRIPT, workdir],
                            cwd=_ROOT, stdout=subprocess.PIPE, text=True)
    self.addCleanup(proc.stdout.close)
    self.addCleanup(proc.kill)
    self.assertEqual(proc.stdout.readline().strip(), 'held')
    return proc

  def test_a_second_process_is_refused_and_a_dead_ones_lock_taken_over(self):
    workdir = self.tmpdir()
    holder = self._holder(workdir)
    with self.assertRaisesRegex(workdir_lib.WorkdirLocked,
                                f'in use by process {holder.pid} '):
      train.train_and_evaluate(_config(2), workdir)
    self.assertEqual(os.listdir(workdir), ['lock'])  # nothing written.
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with self.assertLogs(level='WARNING') as logs:
      train.train_and_evaluate(_config(2), workdir)
    self.assertIn(f'Taking over the lock of process {holder.pid}',
                  '\n'.join(logs.output))
    self.assertEqual(checkpoint.latest_step(workdir), 2)
    # Released cleanly: the next run starts without a note.
    with workdir_lib.lock(workdir):
      pass

  def test_the_lock_excludes_within_one_process_too(self):
    workdir = self.tmpdir()
    with workdir_lib.lock(workdir):
      with self.assertRaisesRegex(workdir_lib.WorkdirLocked,
                                  f'process {os.getpid()} '):
        with workdir_lib.lock(workdir):
          pass


class GuardTest(TempDirMixin, parameterized.TestCase):

  def _exploding(self, num_steps, explode_at, **train_fields):
    # The learning rate jumps from 1e-4 to 1e12 at `explode_at`.
    config = _config(num_steps, **train_fields)
    config.optimizer.schedule = 'step'
    config.optimizer.decay_every_epochs = explode_at
    config.optimizer.decay_factor = 1e16
    return config

  def test_a_divergence_stops_the_run_and_names_the_step(self):
    workdir = self.tmpdir()
    config = self._exploding(8, 4)
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter('always', ResourceWarning)
      with self.assertRaisesRegex(
          guards.Diverged, r'diverged at step 5: .*The last checkpoint is '
          r'step 4\. The best checkpoint by train/cost_bits .* is step [24]'):
        train.train_and_evaluate(config, workdir)
      gc.collect()
    self.assertEqual(checkpoint.all_steps(workdir), [2, 4])
    # The stopped run closed its files (none left for the collector).
    self.assertEqual([str(w.message) for w in caught
                      if issubclass(w.category, ResourceWarning)
                      and workdir in str(w.message)], [])

  def test_the_best_checkpoint_outlives_a_blow_up(self):
    workdir = self.tmpdir()
    config = self._exploding(12, 4, divergence_factor=0.0, max_checkpoints=1)
    train.train_and_evaluate(config, workdir)
    self.assertEqual(checkpoint.all_steps(workdir), [12])
    best = checkpoint.best_record(workdir)
    self.assertIn(best['step'], (2, 4))
    self.assertEqual(best['metric'], 'train/cost_bits')
    evals = [r for r in writers.read_metrics(workdir)
             if r['split'] == 'eval/train']
    self.assertEqual(best['value'], min(r['cost_bits'] for r in evals))
    blown = evaluate.run(workdir, [])
    kept = evaluate.run(workdir, [], best=True)
    self.assertEqual(kept['checkpoint_step'], best['step'])
    self.assertLess(kept['train']['cost_bits'],
                    blown['train']['cost_bits'] / 10)

  def test_a_learning_rate_of_1e12_stops_at_its_second_step(self):
    workdir = self.tmpdir()
    config = _config(8)
    config.optimizer.learning_rate = 1e12
    with self.assertRaisesRegex(guards.Diverged,
                                'step 1: .*There is no checkpoint yet'):
      train.train_and_evaluate(config, workdir)

  def test_nan_from_a_fresh_run_says_there_is_no_checkpoint_yet(self):

    class NaNCopy(copy_task.Copy):
      def loss(self, logits, batch):
        return jnp.nan * jnp.sum(logits)

    original = tasks.REGISTRY['copy']
    tasks.REGISTRY['copy'] = NaNCopy
    self.addCleanup(tasks.REGISTRY.__setitem__, 'copy', original)
    with self.assertRaisesRegex(
        FloatingPointError, 'at step 0 .*There is no checkpoint yet '
        r'\(the first is written at step 2\)'):
      train.train_and_evaluate(_config(4), self.tmpdir())

  def test_the_guard_ignores_the_spikes_of_a_solved_model(self):
    guard = guards.DivergenceGuard(100.0)
    self.assertIsNone(guard.check(0, np.full(50, 100.0)))
    self.assertIsNone(guard.check(50, np.full(500, 0.01)))
    self.assertIsNone(guard.check(550, [0.01, 50.0, 0.01]))
    self.assertRegex(guard.check(553, [0.01, 2e4]), 'step 554')


class ChecksBeforeWorkTest(TempDirMixin, parameterized.TestCase):

  @parameterized.parameters(
      ('optimizer.learning_rate', float('inf'),
       'config.optimizer.learning_rate'),
      ('optimizer.learning_rate', 0.0, 'config.optimizer.learning_rate'),
      ('optimizer.learning_rate', float('nan'),
       'config.optimizer.learning_rate'),
      ('evals.variants', 'length_4,length_5', 'config.evals.variants'),
      ('evals.periodic_variants', ('length_9',),
       'config.evals.periodic_variants'),
      ('train.best_metric', 'train/accuracy', 'config.train.best_metric'),
      ('train.best_metric', 'cost_bits', 'config.train.best_metric'),
      ('train.stop_metric', 'bit_error', 'config.train.stop_metric'),
      ('train.divergence_factor', -1.0, 'config.train.divergence_factor'),
      ('train.max_checkpoints', 0, 'config.train.max_checkpoints'),
      ('model.hidden_size', 0, 'config.model.hidden_size'),
      ('model.num_layers', 0, 'config.model.num_layers'),
  )
  def test_a_bad_field_fails_before_the_workdir_exists(self, field, value,
                                                       message):
    config = _config()
    section, leaf = field.split('.')
    config[section][leaf] = value
    workdir = os.path.join(self.tmpdir(), 'run')
    with self.assertRaisesRegex(ValueError, message.replace('.', r'\.')):
      train.train_and_evaluate(config, workdir)
    self.assertFalse(os.path.exists(workdir))

  @parameterized.parameters('length_8', 'train,length_8', ('length_8',))
  def test_variants_as_a_list_or_a_comma_separated_string(self, variants):
    config = _config(2)
    config.evals.variants = variants
    results = train.train_and_evaluate(config, self.tmpdir())
    self.assertIn('length_8', results)
    self.assertNotIn('length_4', results)


class WorkdirUnitTest(TempDirMixin, absltest.TestCase):

  def test_truncate_metrics_keeps_earlier_lines_and_drops_a_torn_one(self):
    workdir = self.tmpdir()
    lines = [json.dumps({'step': s, 'split': 'train'}) for s in (0, 2, 4, 6)]
    with open(os.path.join(workdir, 'metrics.jsonl'), 'w') as f:
      f.write('\n'.join(lines) + '\n{"step": 8, "spl')
    self.assertEqual(workdir_lib.truncate_metrics(workdir, 4), 2)
    self.assertEqual([r['step'] for r in writers.read_metrics(workdir)],
                     [0, 2, 4])

  def test_changed_fields(self):
    a = _config()
    b = _config()
    b.model.hidden_size = 3
    b.evals.variants = 'length_4'
    self.assertEqual(workdir_lib.changed_fields(a, b),
                     ['evals.variants', 'model.hidden_size'])

  def test_save_config_keeps_the_earlier_one(self):
    workdir = self.tmpdir()
    workdir_lib.save_config(_config(2), workdir)
    workdir_lib.save_config(_config(2), workdir)
    self.assertEqual(os.listdir(workdir), ['config.json'])
    workdir_lib.save_config(_config(4), workdir)
    workdir_lib.save_config(_config(6), workdir)
    kept = sorted(os.listdir(workdir))
    self.assertLen(kept, 3)
    self.assertEqual(workdir_lib.load_config(workdir).train.num_steps, 6)


if __name__ == '__main__':
  absltest.main()
