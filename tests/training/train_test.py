"""Smoke tests of training: a few steps, outputs on disk, resume, NaN guard."""

import functools
import json
import os
import shutil
import tempfile

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np

from configs import train as train_config
from memax import tasks
from memax.tasks import copy as copy_task
from memax.training import buckets
from memax.training import checkpoint
from memax.training import setup
from memax.training import sharding
from memax.training import step as step_lib
from memax.training import train
from memax.training import writers
from tests.training import device_testing


def _config(model='ntm', task='copy', num_steps=4, *, plot=True,
            variants='all'):
  config = train_config.get_config(f'model={model},task={task},runlocal')
  config.train.num_steps = num_steps
  config.tensorboard = True
  config.evals.plot = plot
  config.evals.variants = variants  # the final evaluations ('train' always).
  if task == 'copy':
    # One length variant (runlocal has two): each variant is one more
    # compiled evaluation (and plot) per run.
    config.task.eval_lengths = (8,)
  return config


def _learning_config():
  """The NTM on copy, trained long enough to learn (600 steps of 16
  sequences with Adam), evaluated at the end on 256 fresh sequences."""
  config = _config('ntm', 'copy', num_steps=600, variants='train')
  config.task.max_length = 3
  config.model.update(controller_size=32, memory_size=16, word_size=8)
  config.optimizer.update(name='adam', learning_rate=3e-3,
                          grad_clip_value=0.0, grad_clip_norm=10.0)
  config.train.update(batch_size=16, steps_per_call=100, log_every=200,
                      eval_every=600, ckpt_every=300)
  config.evals.update(batch_size=64, num_batches=4)
  return config


@functools.lru_cache(maxsize=None)
def _learning_run():
  """`(workdir, config, results)` of `_learning_config()`, trained once per
  test process: test_writes_the_workdir's NTM on copy and the run of
  test_training_reduces_the_copy_loss (one NTM program set to compile).
  The tests only read the workdir; tearDownModule removes it."""
  config = _learning_config()
  workdir = os.path.join(tempfile.mkdtemp(), 'ntm_copy')
  return workdir, config, train.train_and_evaluate(config, workdir)


def tearDownModule():  # pylint: disable=invalid-name
  if _learning_run.cache_info().currsize:
    shutil.rmtree(os.path.dirname(_learning_run()[0]), ignore_errors=True)
  _learning_run.cache_clear()


def _params(workdir, config, step=None):
  """The train state saved in `workdir` (the latest, or at `step`)."""
  return checkpoint.restore(checkpoint.manager(workdir, read_only=True),
                            setup.abstract_state(config), step)


class TempDirMixin:

  def tmpdir(self) -> str:
    path = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, path, ignore_errors=True)
    return path


class TrainAndEvaluateTest(TempDirMixin, parameterized.TestCase):

  # Each model and each task once: the NTM on copy (the learning run) and
  # the LSTM on associative recall with all its variants.
  @parameterized.parameters(('ntm', 'copy'), ('lstm', 'associative_recall'))
  def test_writes_the_workdir(self, model, task):
    # The final evaluations of every variant of the task (the task's, not
    # the model's) for the LSTM; the NTM's only of 'train' (its
    # evaluations at other lengths, plots included, run from its workdir in
    # evaluate_test): each is an NTM program to compile and a plot to draw.
    # The NTM on copy is the run of test_training_reduces_the_copy_loss
    # (runlocal sizes elsewhere).
    variants = 'all' if model == 'lstm' else 'train'
    if (model, task) == ('ntm', 'copy'):
      workdir, config, results = _learning_run()
    else:
      config = _config(model, task, variants=variants)
      workdir = self.tmpdir()
      results = train.train_and_evaluate(config, workdir)
    num_steps, log_every = config.train.num_steps, config.train.log_every
    self.assertEqual(results['step'], num_steps)
    for name in ('config.json', 'metrics.jsonl', 'eval/train.json',
                 'plots/train.png'):
      self.assertTrue(os.path.exists(os.path.join(workdir, name)), name)
    self.assertNotEmpty(os.listdir(os.path.join(workdir, 'tensorboard')))
    self.assertEqual(checkpoint.latest_step(workdir), num_steps)
    records = writers.read_metrics(workdir)
    train_steps = [r['step'] for r in records if r['split'] == 'train']
    # 0: the untrained model (runlocal: [0, 2, 4]).
    self.assertEqual(train_steps, list(range(0, num_steps + 1, log_every)))
    self.assertTrue(all(np.isfinite(r['loss']) for r in records
                        if r['split'] == 'train'))
    expected = {'train'}
    if variants == 'all':
      expected |= set(tasks.build(config.task).variants())
      self.assertGreater(len(expected), 1)
    self.assertEqual(set(results) - {'last_train_log', 'step', 'stopped_at',
                                     'wall_seconds'}, expected)
    for name in expected:
      for path in (f'eval/{name}.json', f'plots/{name}.png'):
        self.assertTrue(os.path.exists(os.path.join(workdir, path)), path)
    with open(os.path.join(workdir, 'config.json')) as f:
      self.assertEqual(json.load(f)['model']['name'], model)

  def test_resume_gives_the_same_numbers_as_not_stopping(self):
    # Model-agnostic (the train state is all in the checkpoint): the LSTM,
    # several times cheaper to compile than the NTM. The NTM resumes in
    # evaluate_test's EvaluateTest (trained in two launches), whose
    # evaluations of its checkpoints reproduce training's final numbers.
    config = functools.partial(_config, 'lstm', plot=False, variants='train')
    straight = self.tmpdir()
    train.train_and_evaluate(config(num_steps=8), straight)
    resumed = self.tmpdir()
    train.train_and_evaluate(config(num_steps=4), resumed)
    # Wall time adds up over launches: what the first launch logged last
    # (made large here, to tell a sum from the second launch's own count).
    path = os.path.join(resumed, 'metrics.jsonl')
    with open(path) as f:
      lines = [json.loads(x) for x in f]
    last = [x for x in lines if x['split'] == 'train'][-1]
    self.assertEqual(last['step'], 4)
    self.assertGreater(last['wall_seconds'], 0)
    last['wall_seconds'] = 1e6
    with open(path, 'w') as f:
      f.writelines(json.dumps(x) + '\n' for x in lines)
    train.train_and_evaluate(config(num_steps=8), resumed)
    walls = [r['wall_seconds'] for r in writers.read_metrics(resumed)
             if r['split'] == 'train' and r['step'] > 4]
    self.assertLen(walls, 2)
    self.assertTrue(1e6 < walls[0] < walls[1] < 1e6 + 600, walls)
    a = _params(straight, config())
    b = _params(resumed, config())
    self.assertEqual(int(a.step), 8)
    self.assertEqual(int(b.step), 8)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
      np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
    steps = [r['step'] for r in writers.read_metrics(resumed)
             if r['split'] == 'train']
    self.assertEqual(steps, [0, 2, 4, 6, 8])

  def test_nan_stops_with_the_step_and_keeps_the_last_checkpoint(self):
    # Model-agnostic (the loss is replaced wholesale): the LSTM.
    config = functools.partial(_config, 'lstm', plot=False, variants='train')
    workdir = self.tmpdir()
    train.train_and_evaluate(config(num_steps=4), workdir)
    before = _params(workdir, config())

    class NaNCopy(copy_task.Copy):
      def loss(self, logits, batch):
        return jnp.nan * jnp.sum(logits)

    original = tasks.REGISTRY['copy']
    tasks.REGISTRY['copy'] = NaNCopy
    try:
      with self.assertRaisesRegex(FloatingPointError, 'at step 4'):
        train.train_and_evaluate(config(num_steps=8), workdir)
    finally:
      tasks.REGISTRY['copy'] = original
    self.assertEqual(checkpoint.latest_step(workdir), 4)
    after = _params(workdir, config())
    for x, y in zip(jax.tree.leaves(before), jax.tree.leaves(after)):
      np.testing.assert_array_equal(x, y)

  def test_early_stop_when_solved(self):
    # Model-agnostic (the loop stops on the periodic evaluation's metric):
    # the LSTM, whose programs test_nan_stops_... and test_resume_... compile
    # too (the final evaluation of 'train' alone, as theirs); the plots and
    # the other variants are test_writes_the_workdir's.
    config = _config('lstm', num_steps=8, plot=False, variants='train')
    config.train.stop_metric = 'bit_errors'
    config.train.stop_below = 1e9  # any value counts as solved
    workdir = self.tmpdir()
    results = train.train_and_evaluate(config, workdir)
    self.assertEqual(results['stopped_at'], 2)
    self.assertEqual(checkpoint.latest_step(workdir), 2)
    # Re-launching a solved run does not train further.
    again = train.train_and_evaluate(config, workdir)
    self.assertEqual(again['step'], 2)
    self.assertEqual(checkpoint.latest_step(workdir), 2)

  @parameterized.parameters(
      ('train.batch_size', 0, 'config.train.batch_size'),
      ('train.log_every', 3, 'config.train.log_every'),
      ('train.num_steps', 5, 'config.train.num_steps'),
      ('model.memory_size', -4, 'config.model.memory_size'),
      ('task.max_length', 0, 'config.task.max_length'),
      ('task.name', 'kopy', 'config.task.name'),
      ('model.name', 'ntmm', 'config.model.name'),
      ('optimizer.name', 'lion', 'config.optimizer.name'),
      ('train.num_devices', 0, 'config.train.num_devices'),
      ('train.num_devices', 64, 'config.train.num_devices'),
      ('train.length_buckets', -1, 'config.train.length_buckets'),
  )
  def test_bad_config_names_the_field(self, field, value, message):
    config = _config()
    section, leaf = field.split('.')
    config[section][leaf] = value
    with self.assertRaisesRegex(ValueError, message.replace('.', r'\.')):
      train.train_and_evaluate(config, self.tmpdir())


# Trains the same tiny LSTM with one device and, data-parallel, with two CPU
# host devices with remat (one run with the model's per-step skipping, one
# with length buckets; the same model, so one evaluation program for both);
# prints the largest parameter difference from the one-device training.
# In a subprocess:
# the host device count is fixed when JAX starts. It shares the test
# session's compilation cache (conftest.py), passed as argv[1]. Data
# parallelism splits the batch whatever the model: the LSTM compiles several
# times faster than the NTM.
_DATA_PARALLEL_SCRIPT = '''
import sys, tempfile
import jax
import numpy as np
if len(sys.argv) > 1:
  jax.config.update('jax_compilation_cache_dir', sys.argv[1])
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
from memax.training import checkpoint, setup, sharding, train
sharding.use_cpu_devices(2)
from configs import train as train_config

def config_of(devices, buckets):
  config = train_config.get_config('model=lstm,task=copy,runlocal')
  config.train.batch_size = 4
  config.train.num_steps = 4
  config.train.num_devices = devices
  config.train.length_buckets = buckets
  config.task.length_per_batch = True
  config.model.remat = devices == 2
  config.evals.plot = False
  config.evals.variants = 'train'
  config.tensorboard = False
  return config

# The one-device reference: the training of train_and_evaluate (the run's
# chunks from its initial state and keys), without its evaluations.
s = setup.setup(config_of(1, 0))
state, chunk = s.init_state(), s.chunk()
for _ in range(s.config.train.num_steps // s.config.train.steps_per_call):
  state, _, _ = chunk(state, s.keys.train, s.data)
final = [jax.device_get(state)]
for devices, buckets in ((2, 0), (2, 3)):
  config = config_of(devices, buckets)
  with tempfile.TemporaryDirectory() as workdir:
    train.train_and_evaluate(config, workdir)
    state = checkpoint.restore(checkpoint.manager(workdir, read_only=True),
                               setup.abstract_state(config))
    final.append(jax.device_get(state))  # saved replicated over 2 devices.
print(len(jax.devices()), int(final[0].step), int(final[1].step), max(
    float(np.max(np.abs(a - b))) for other in final[1:] for a, b in zip(
        jax.tree.leaves(final[0].params), jax.tree.leaves(other.params))))
'''


class DataParallelTest(absltest.TestCase):

  def test_two_devices_train_as_one(self):
    out = device_testing.run_script(self, _DATA_PARALLEL_SCRIPT)
    devices, ref_step, step, diff = out.split()[-4:]
    self.assertEqual((int(devices), int(ref_step), int(step)), (2, 4, 4))
    self.assertLess(float(diff), 1e-5)

  def test_shardings(self):
    self.assertEqual(sharding.data_parallel(1, 7), (None, None))
    with self.assertRaisesRegex(ValueError, 'config.train.num_devices'):
      sharding.data_parallel(len(jax.devices()) + 1, 64)


class TrainStepTest(absltest.TestCase):
  """The step's contract, whatever the model: the LSTM on copy (runlocal),
  whose step these tests share (one compilation) and whose chunk training
  compiles too (TrainAndEvaluateTest). The NTM trains in
  TrainAndEvaluateTest and learns in test_training_reduces_the_copy_loss."""

  def _setup(self):
    s = setup.setup(_config('lstm'))
    return s.init_state(), s.train_step, s

  def test_train_step_is_pure(self):
    state, step, _ = self._setup()
    key = jax.random.key(5)
    a, ma = jax.jit(step)(state, key)
    b, mb = jax.jit(step)(state, key)
    self.assertEqual(int(a.step), 1)
    np.testing.assert_array_equal(ma['loss'], mb['loss'])
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
      np.testing.assert_array_equal(x, y)
    # The update moved the parameters; the step was finite.
    self.assertFalse(all(np.array_equal(x, y) for x, y in zip(
        jax.tree.leaves(a.params), jax.tree.leaves(state.params))))
    self.assertEqual(int(a.first_nonfinite_step), -1)
    self.assertFalse(bool(a.done))
    # The metrics hold each loss term; here only the task's, weighted 1.
    self.assertContainsSubset({'loss', 'loss_task', 'grad_norm', 'cost_bits',
                               'bit_errors'}, set(ma))
    np.testing.assert_allclose(ma['loss'], ma['loss_task'], rtol=1e-6)

  def test_train_step_vmaps_over_seeds(self):
    # jax.vmap of the whole step, whatever the model: the LSTM, cheaper to
    # compile (the NTM's ops are vmapped in tests/ops).
    state, step, _ = self._setup()
    states = jax.tree.map(lambda x: jnp.stack([x, x]), state)
    keys = jax.random.split(jax.random.key(0), 2)
    new, metrics = jax.jit(jax.vmap(step))(states, keys)
    self.assertEqual(metrics['loss'].shape, (2,))
    self.assertFalse(np.allclose(metrics['loss'][0], metrics['loss'][1]))
    one, m0 = jax.jit(step)(state, keys[0])
    np.testing.assert_allclose(metrics['loss'][0], m0['loss'], rtol=1e-5)

  def test_chunk_is_the_steps_in_a_row(self):
    state, step, s = self._setup()  # the contract, not the model.
    key = jax.random.key(3)
    one = jax.jit(step)
    # The run's own chunk (`make_train_chunk(train_step, steps_per_call)`).
    steps = s.config.train.steps_per_call
    self.assertGreater(steps, 1)
    expected, losses = state, []
    for _ in range(steps):
      expected, m = one(expected, key)
      losses.append(float(m['loss']))
    chunk = s.chunk()
    got, means, per_step = chunk(state, key, None)  # donates `state`.
    self.assertEqual(int(got.step), steps)
    np.testing.assert_allclose(per_step, losses, rtol=1e-5)
    np.testing.assert_allclose(means['loss'], np.mean(losses), rtol=1e-5)
    for x, y in zip(jax.tree.leaves(got.params),
                    jax.tree.leaves(expected.params)):
      np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)

  def test_training_reduces_the_copy_loss(self):
    # 600 steps of the run's chunks (100 steps each), in train_and_evaluate
    # (the NTM run of test_writes_the_workdir). Before: the untrained
    # model's loss (step 0, on the first batch, before any update); after:
    # the final evaluation's cost in bits (the copy loss, `bit_loss`) on
    # 256 fresh sequences.
    workdir, config, results = _learning_run()
    self.assertEqual((config.train.steps_per_call, results['step']),
                     (100, 600))
    before, = [r['loss'] for r in writers.read_metrics(workdir)
               if r['split'] == 'train' and r['step'] == 0]
    after = results['train']['cost_bits']
    self.assertEqual(config.evals.batch_size * config.evals.num_batches, 256)
    self.assertLess(after, 0.6 * before)  # 1.0 is chance level


class LengthBucketsTest(parameterized.TestCase):

  @parameterized.parameters(
      (41, 20, tuple(range(3, 42, 2))),
      (41, 1, (41,)),
      (41, 3, (14, 28, 41)),
      (5, 10, (1, 2, 3, 4, 5)),
  )
  def test_bucket_edges(self, max_steps, num_buckets, expected):
    self.assertEqual(buckets.bucket_edges(max_steps, num_buckets), expected)

  # Bucketing cuts the batch for any causal model: the LSTM, several times
  # cheaper to compile than the NTM (4 gradients here). Per-step skipping
  # (`num_steps`, with and without remat) is checked for the NTM and the
  # LSTM in tests/models/sequence_test.py.
  def _step_results(self, length_buckets, *, length_per_batch=True, keys=4):
    config = _config('lstm')
    config.task.length_per_batch = length_per_batch
    config.task.max_length = 4  # T = 9.
    # runlocal's batch of 2: without num_steps, the step is TrainStepTest's.
    batch_size = config.train.batch_size
    s = setup.setup(config)
    state = s.init_state()
    step = jax.jit(step_lib.make_train_step(
        s.model, s.task, s.optimizer, batch_size=batch_size,
        length_buckets=length_buckets))
    # The batch's num_steps alone (jitted: the bits are not computed).
    num_steps = jax.jit(lambda key, i: s.task.train_batch(
        key, i, batch_size, s.data).num_steps)
    out = []
    for k in range(keys):
      key = jax.random.key(k)
      n = num_steps(key, state.step)
      new, metrics = step(state, key, s.data)
      out.append((None if n is None else int(n), metrics, new.params))
    return out

  def _assert_same(self, a, b):
    for (n_a, m_a, p_a), (n_b, m_b, p_b) in zip(a, b):
      self.assertEqual(n_a, n_b)
      self.assertEqual(set(m_a), set(m_b))
      for name in m_a:
        np.testing.assert_allclose(m_a[name], m_b[name], rtol=2e-5,
                                   atol=1e-6, err_msg=name)
      for x, y in zip(jax.tree.leaves(p_a), jax.tree.leaves(p_b)):
        np.testing.assert_allclose(x, y, rtol=2e-5, atol=1e-7)

  def test_buckets_change_no_number(self):
    # The same steps with every padded step computed (the model's per-step
    # skipping), and with the batch cut to the end of its bucket.
    full = self._step_results(0, keys=6)
    lengths = [n for n, _, _ in full]
    # Every length 2L + 1 is hit, so the buckets (3, 6, 9) cut batches
    # exactly at their end (3, as a bucket per length does), past it
    # (5 -> 6, 7 -> 9) and not at all (9), over three branches.
    self.assertEqual(set(lengths), {3, 5, 7, 9})
    self.assertEqual(buckets.bucket_edges(9, 3), (3, 6, 9))
    self._assert_same(full, self._step_results(3, keys=6))
    # A step changes the parameters, so the comparison can fail.
    self.assertFalse(np.allclose(jax.tree.leaves(full[0][2])[0],
                                 jax.tree.leaves(full[1][2])[0]))

  def test_without_num_steps_buckets_do_nothing(self):
    self._assert_same(self._step_results(0, length_per_batch=False, keys=1),
                      self._step_results(3, length_per_batch=False, keys=1))


if __name__ == '__main__':
  absltest.main()
