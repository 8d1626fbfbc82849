"""Tests of evaluation from a workdir, overrides, and the launchers."""

import gc
import json
import logging as py_logging
import os
import shutil
import subprocess
import sys
import tempfile
import weakref

from absl import flags
from absl.testing import absltest
from absl.testing import flagsaver
from absl.testing import parameterized
import jax
import numpy as np

from configs import memn2n_babi
from configs import train as train_config
from memax import cli
from memax import evaluate
from memax.training import checkpoint
from memax.training import evaluate as evaluate_lib
from memax.training import setup
from memax.training import train
from tests.training import workdir_testing

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


class EvaluateTest(parameterized.TestCase):
  """One trained run (checkpoints at steps 2 and 4), evaluated many ways."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.workdir = tempfile.mkdtemp()
    config = train_config.get_config('model=ntm,task=copy,runlocal')
    config.evals.plot = False
    # One length variant (runlocal has two): every evaluation of the run
    # compiles (and traces) one program fewer.
    config.task.eval_lengths = (8,)
    # Two launches: the NTM resumes from its step-2 checkpoint (resume is
    # model-agnostic and checked exactly, on the LSTM, in train_test).
    config.train.num_steps = 2
    train.train_and_evaluate(config, cls.workdir)
    config.train.num_steps = 4
    cls.trained = train.train_and_evaluate(config, cls.workdir)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.workdir, ignore_errors=True)
    super().tearDownClass()

  def copy_of_the_run(self) -> str:
    path = os.path.join(tempfile.mkdtemp(), 'run')
    self.addCleanup(shutil.rmtree, os.path.dirname(path), ignore_errors=True)
    shutil.copytree(self.workdir, path)
    shutil.rmtree(os.path.join(path, evaluate.EVALUATIONS),
                  ignore_errors=True)
    return path

  def test_overrides_change_the_variants_and_memory(self):
    # One new length (each is an NTM program to compile); a list of
    # lengths is parsed in tests/overrides_test.py.
    results = evaluate.run(
        self.workdir, ['model.memory_size=40', 'task.eval_lengths=30',
                       'evals.plot=True'],
        tag='big')
    self.assertEqual(set(results) - {'checkpoint_step', 'output_dir'},
                     {'train', 'length_30'})
    out = os.path.join(self.workdir, 'evaluations', 'big')
    self.assertEqual(results['output_dir'], out)
    with open(os.path.join(out, 'length_30.json')) as f:
      record = json.load(f)
    self.assertEqual(record['model']['memory_size'], 40)
    self.assertEqual(record['task']['max_length'], 30)
    self.assertEqual(record['checkpoint_step'], 4)
    self.assertEqual(record['eval_seed'], 0)
    self.assertEqual(record['overrides'][0], 'model.memory_size=40')
    self.assertTrue(np.isfinite(record['metrics']['cost_bits']))
    self.assertTrue(os.path.exists(os.path.join(out, 'length_30.png')))

  def test_arrays_save_the_plotted_example(self):
    # The trained config draws no plot; `evals.arrays` alone makes the
    # model return its auxiliary outputs and saves one example's arrays.
    results = evaluate.run(self.workdir, ['evals.arrays=True'], tag='arrays')
    out = results['output_dir']
    self.assertEqual(sorted(os.listdir(out)),
                     ['length_8.json', 'length_8.npz', 'train.json',
                      'train.npz'])
    with np.load(os.path.join(out, 'length_8.npz')) as f:
      arrays = {k: f[k] for k in f.files}
    self.assertContainsSubset(['inputs', 'targets', 'mask', 'probabilities'],
                              arrays)
    aux = [k for k in arrays if k.startswith('aux.')]
    self.assertIn('aux.read_weights', aux)
    inputs, targets, mask = arrays['inputs'], arrays['targets'], arrays['mask']
    steps = inputs.shape[0]
    for k in aux:        # [T, ...]: one example over time, no batch axis.
      self.assertEqual(arrays[k].shape[0], steps, k)
    self.assertEqual(arrays['probabilities'].shape, targets.shape)
    self.assertTrue(np.all((arrays['probabilities'] >= 0)
                           & (arrays['probabilities'] <= 1)))
    # One example: its targets are its own 8 input vectors, copied.
    bits = targets.shape[-1]
    np.testing.assert_array_equal(targets[mask > 0], inputs[:8, :bits])

  def test_arrays_on_a_run_whose_config_predates_the_field(self):
    workdir = self.copy_of_the_run()
    path = os.path.join(workdir, 'config.json')
    with open(path) as f:
      config = json.load(f)
    del config['evals']['arrays']
    with open(path, 'w') as f:
      json.dump(config, f)
    results = evaluate.run(workdir, ['evals.arrays=True',
                                     'evals.variants=length_8'])
    self.assertTrue(os.path.exists(
        os.path.join(results['output_dir'], 'length_8.npz')))
    with self.assertRaisesRegex(ValueError, 'config.evals.arays'):
      evaluate.run(workdir, ['evals.arays=True'])

  def test_training_files_stay_byte_identical(self):
    workdir = self.copy_of_the_run()
    before = workdir_testing.snapshot(workdir)
    first = evaluate.run(workdir, [])
    again = evaluate.run(workdir, [])
    at_2 = evaluate.run(workdir, ['evals.num_batches=1'], step=2)
    self.assertEqual(workdir_testing.snapshot(workdir, skip=('evaluations',)),
                     before)
    # Each evaluation has its own folder; none is reused.
    names = sorted(os.listdir(os.path.join(workdir, 'evaluations')))
    self.assertEqual(names, ['step2_evals.num_batches-1', 'step4', 'step4-2'])
    self.assertEqual(at_2['checkpoint_step'], 2)
    # The same step twice gives the same numbers, and with the run's own
    # seed and settings they are training's final numbers.
    self.assertEqual(set(first) - {'checkpoint_step', 'output_dir'},
                     {'train', 'length_8'})
    for name in ('train', 'length_8'):
      self.assertEqual(first[name], again[name])
      self.assertEqual(first[name], self.trained[name])
    self.assertNotEqual(at_2['length_8'], first['length_8'])
    other_seed = evaluate.run(workdir, [], seed=7)
    self.assertNotEqual(other_seed['length_8'], first['length_8'])
    self.assertEqual(os.path.basename(other_seed['output_dir']),
                     'step4_seed7')

  def test_the_command_line_takes_config_overrides(self):
    # `python -m memax.evaluate --workdir=W --config.evals.num_batches=1
    # --step=2 --config.evals.variants=length_8`: absl parses its flags
    # without the overrides, which `main` passes to `run` as here.
    self.addCleanup(evaluate._OVERRIDES.__setitem__, slice(None),  # pylint: disable=protected-access
                    list(evaluate._OVERRIDES))  # pylint: disable=protected-access
    workdir = self.copy_of_the_run()
    with flagsaver.flagsaver():
      rest = evaluate._parse_flags([  # pylint: disable=protected-access
          'evaluate', f'--workdir={workdir}', '--config.evals.num_batches=1',
          '--step=2', '--config.evals.variants=length_8'])
      self.assertEqual(rest, ['evaluate'])
      argv_workdir, step = evaluate._WORKDIR.value, evaluate._STEP.value  # pylint: disable=protected-access
    self.assertEqual((argv_workdir, step), (workdir, 2))
    overrides = list(evaluate._OVERRIDES)  # pylint: disable=protected-access
    self.assertEqual(overrides, ['evals.num_batches=1',
                                 'evals.variants=length_8'])
    results = evaluate.run(argv_workdir, overrides, step=step)
    self.assertEqual(set(results) - {'checkpoint_step', 'output_dir'},
                     {'train', 'length_8'})
    self.assertEqual(results['checkpoint_step'], 2)
    self.assertEqual(os.path.basename(results['output_dir']),
                     'step2_evals.num_batches-1_evals.variants-length_8')
    with open(os.path.join(results['output_dir'], 'length_8.json')) as f:
      record = json.load(f)
    self.assertEqual(record['overrides'], overrides)
    self.assertEqual(record['num_sequences'], 1 * 2)  # runlocal: batches of 2.
    # The old `--set` flag is gone: an unknown flag, not an override.
    with flagsaver.flagsaver():
      with self.assertRaises(flags.UnrecognizedFlagError):
        evaluate._parse_flags([  # pylint: disable=protected-access
            'evaluate', f'--workdir={workdir}',
            '--set=evals.num_batches=1'])

  def test_bad_overrides_name_the_field(self):
    with self.assertRaisesRegex(ValueError, 'model.memory_sise'):
      evaluate.run(self.workdir, ['model.memory_sise=4'])
    with self.assertRaisesRegex(ValueError, 'field.path=value'):
      evaluate.run(self.workdir, ['model.memory_size'])
    with self.assertRaisesRegex(ValueError, 'config.model.memory_size'):
      evaluate.run(self.workdir, ['model.memory_size=0'])
    with self.assertRaisesRegex(ValueError, 'config.evals.variants'):
      evaluate.run(self.workdir, ['evals.variants=length_5'])

  def test_a_parameter_shape_override_names_the_field(self):
    with self.assertRaisesRegex(
        ValueError, r'config\.model\.word_size \(8 in the run, 32 now\).*'
        'parameter'):
      evaluate.run(self.workdir, ['model.word_size=32'])

  def test_missing_config_or_checkpoint_is_a_clear_error(self):
    empty = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, empty)
    with self.assertRaisesRegex(FileNotFoundError, 'config.json'):
      evaluate.run(empty, [])
    shutil.copy(os.path.join(self.workdir, 'config.json'), empty)
    with self.assertRaisesRegex(FileNotFoundError, 'No checkpoint in'):
      evaluate.run(empty, [])
    with self.assertRaisesRegex(FileNotFoundError, r'available: \[2, 4\]'):
      evaluate.run(self.workdir, [], step=3)

  @parameterized.parameters(*workdir_testing.DAMAGE)
  def test_an_unreadable_latest_checkpoint_falls_back(self, how):
    workdir = self.copy_of_the_run()
    workdir_testing.damage(workdir, 4, how)
    damaged = workdir_testing.snapshot(workdir)
    with self.assertLogs(level='WARNING') as logs:
      results = evaluate.run(workdir, [])
    self.assertEqual(results['checkpoint_step'], 2)
    self.assertIn('Checkpoint 4', '\n'.join(logs.output))
    self.assertIn('could not be read', '\n'.join(logs.output))
    # Nothing was deleted or moved: the damaged checkpoint is still there.
    self.assertEqual(workdir_testing.snapshot(workdir, skip=('evaluations',)),
                     damaged)
    with self.assertRaisesRegex(FileNotFoundError,
                                r'cannot be read.*Readable steps: \[2\]'):
      evaluate.run(workdir, [], step=4)


class LauncherTest(absltest.TestCase):

  def _run(self, *args, env=None):
    return subprocess.run(
        [sys.executable, '-m', *args], cwd=_ROOT, capture_output=True,
        text=True, timeout=600, check=False,
        env=dict(os.environ, **(env or {})))

  def test_main_from_the_command_line(self):
    # The launcher is the same for every model: the LSTM baseline's config
    # file, whose programs compile several times faster than the NTM's (the
    # subprocess starts from an empty compilation cache). The launcher loads
    # the NTM's config file in test_a_mistyped_override_fails; the NTM trains
    # through `train_and_evaluate` in EvaluateTest and train_test.
    workdir = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, workdir)
    cache = os.path.join(workdir, 'cache')
    proc = self._run('memax.main', '--config=configs/lstm_copy.py:runlocal',
                     f'--workdir={workdir}/run',
                     '--config.model.hidden_size=12',
                     '--config.evals.variants=length_8',
                     '--config.evals.plot=False',
                     env={'MEMAX_COMPILATION_CACHE': cache})
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    with open(os.path.join(workdir, 'run', 'config.json')) as f:
      self.assertEqual(json.load(f)['model']['hidden_size'], 12)
    self.assertIn('"step": 4', proc.stdout)
    self.assertEqual(sorted(os.listdir(os.path.join(workdir, 'run', 'eval'))),
                     ['length_8.json', 'train.json'])
    self.assertIn('Compiling the train step', proc.stderr)
    self.assertRegex(proc.stderr, r'Compiled the train step in [0-9.]+ s')
    self.assertNotEmpty(os.listdir(cache))  # the compilation cache.
    self.assertNotIn('libtpu', proc.stderr)
    noisy = [line for line in proc.stderr.splitlines() if 'orbax' in line]
    self.assertEqual(noisy, [])

  def test_the_launchers_filter_library_chatter(self):
    keep = cli._QuietLibraries().filter  # pylint: disable=protected-access

    def record(path, level, msg):
      return py_logging.LogRecord('absl', level, path, 1, msg, None, None)

    orbax = '/x/orbax/checkpoint/checkpoint_manager.py'
    self.assertFalse(keep(record(orbax, py_logging.INFO, 'Saving step 2')))
    self.assertFalse(keep(record(orbax, py_logging.WARNING,
                                 'Given directory is read only=/x')))
    self.assertTrue(keep(record(orbax, py_logging.WARNING, 'disk full')))
    self.assertFalse(keep(record(
        '/x/jax/_src/xla_bridge.py', py_logging.INFO,
        "Unable to initialize backend 'tpu': Failed to open libtpu.so")))
    self.assertTrue(keep(record('/x/memax/training/train.py',
                                py_logging.INFO, 'step 2/4')))

  def test_a_mistyped_override_fails(self):
    proc = self._run('memax.main', '--config=configs/ntm_copy.py:runlocal',
                     '--workdir=/tmp/unused', '--config.model.memory_sise=12')
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('memory_sise', proc.stderr)


class CheckpointLookupTest(absltest.TestCase):

  def test_no_checkpoints_dir_means_no_steps(self):
    empty = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, empty)
    self.assertEqual(checkpoint.all_steps(empty), [])
    self.assertIsNone(checkpoint.latest_step(empty))
    self.assertIsNone(checkpoint.best_step(empty))


class SharedProgramsTest(absltest.TestCase):
  """Evaluations of equal models and tasks are traced and compiled once."""

  def test_equal_models_and_tasks_share_one_compiled_evaluation(self):
    config = train_config.get_config('model=lstm,task=copy,runlocal')
    config.task.eval_lengths = (8,)
    s = setup.setup(config)
    params = s.init_state().params
    runs = []
    for periodic in (True, False, False):  # a resume builds them anew
      model, task = setup.build(config)
      evaluator = evaluate_lib.Evaluator(
          model, task, config.evals, jax.random.key(0), periodic=periodic)
      evaluator.evaluate(params, data=s.data)
      runs.append({n: evaluator.run(n) for n in evaluator.evals})
    self.assertEqual(set(runs[1]), {'train', 'length_8'})
    for name, run in runs[1].items():
      self.assertIs(runs[2][name], run)
      self.assertEqual(run._cache_size(), 1)  # pylint: disable=protected-access
    self.assertIs(runs[0]['train'], runs[1]['train'])

  def test_the_splits_of_a_dataset_share_one_program(self):
    config = memn2n_babi.get_config('runlocal')
    model, task = setup.build(config)
    evaluator = evaluate_lib.Evaluator(model, task, config.evals,
                                       jax.random.key(0), periodic=False)
    self.assertEqual(list(evaluator.evals), ['train', 'valid', 'test'])
    self.assertLen({id(evaluator.run(n)) for n in evaluator.evals}, 1)
    # A dataset task (it holds its examples) is not kept once the run's
    # objects are gone.
    task_ref = weakref.ref(task)
    del evaluator, task
    gc.collect()
    self.assertIsNone(task_ref())


if __name__ == '__main__':
  absltest.main()
