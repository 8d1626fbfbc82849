"""Smoke tests of benchmarks/run.py (one tiny measurement per model),
benchmarks/omniglot.py (MANN beside the LSTM, runlocal sizes) and
benchmarks/dam.py's recipe cost (runlocal sizes) and
benchmarks/xla_slow_compile.py (one case at tiny sizes, one timed out)."""

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized

_BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'benchmarks')


def _load(name):
  spec = importlib.util.spec_from_file_location(
      f'benchmarks_{name}', os.path.join(_BENCHMARKS, f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


run = _load('run')

_KEYS = ('kind', 'model', 'task', 'batch_size', 'ms_per_step',
         'min_ms_per_step', 'max_ms_per_step', 'sequences_per_s',
         'compile_s', 'repeats', 'steps_per_call', 'max_steps', 'num_params',
         'jax_version', 'device_kind', 'cpu_count', 'processor', 'machine')


class BenchmarksSmokeTest(parameterized.TestCase):

  @parameterized.parameters('lstm', 'ntm')
  def test_measure(self, model):
    batch_size = 2
    rec = run.measure(model, 'copy', batch_size, repeats=2, steps_per_call=2,
                      runlocal=True)
    for key in _KEYS:
      self.assertIn(key, rec)
    self.assertEqual(rec['kind'], 'measurement')
    self.assertEqual(rec['model'], model)
    self.assertEqual(rec['batch_size'], batch_size)
    self.assertEqual(rec['repeats'], 2)
    self.assertEqual(rec['steps_per_call'], 2)
    ms = rec['ms_per_step']
    self.assertTrue(math.isfinite(ms) and ms > 0, ms)
    self.assertLessEqual(rec['min_ms_per_step'], ms)
    self.assertGreaterEqual(rec['max_ms_per_step'], ms)
    self.assertAlmostEqual(rec['sequences_per_s'], batch_size * 1e3 / ms,
                           delta=1e-6 * rec['sequences_per_s'])
    self.assertGreater(rec['compile_s'], 0)
    self.assertGreater(rec['max_steps'], 0)
    self.assertGreater(rec['num_params'], 0)

  def test_tuned_setting(self):
    self.assertEqual(run.tuned_overrides('ntm', 'associative_recall', 1), {})
    copy = {'task.length_per_batch': True,
            'train.length_buckets': run.TUNED_BUCKETS}
    self.assertEqual(run.tuned_overrides('ntm', 'copy', 1), copy)
    self.assertEqual(run.tuned_overrides('lstm', 'copy', 32), copy)
    self.assertEqual(run.tuned_overrides('lstm', 'ngrams', 32), {})
    ntm = run.tuned_overrides('ntm', 'copy', 32)
    self.assertTrue(ntm['model.remat'])
    # Two devices only where JAX has them (this test process has one).
    self.assertEqual(ntm.get('train.num_devices', 1),
                     min(2, len(run.jax.devices())))
    # The LSTM's program (its tuned copy setting: buckets, one length per
    # batch) compiles several times faster than the NTM's.
    with mock.patch.object(run, 'TUNED_BUCKETS', 2):  # compiles 2 branches.
      rec = run.measure('lstm', 'copy', 2, repeats=1, steps_per_call=2,
                        runlocal=True, setting='tuned')
    self.assertEqual(rec['overrides']['train.length_buckets'], 2)
    self.assertEqual(rec['setting'], 'tuned')
    self.assertTrue(rec['overrides']['task.length_per_batch'])
    self.assertGreater(rec['sequences_per_s'], 0)

  def test_ratio_and_reference(self):
    ntm = dict(kind='measurement', model='ntm', task='copy', batch_size=1,
               ms_per_step=40.0, sequences_per_s=25.0, max_steps=42)
    lstm = dict(ntm, model='lstm', ms_per_step=10.0)
    self.assertAlmostEqual(run.ratio_record(ntm, lstm)['ntm_over_lstm'], 4.0)
    (ref,) = run.reference_records([ntm, lstm])
    self.assertAlmostEqual(ref['speedup_vs_pytorch_ntm'], 25.0 / 12.0)
    self.assertIn('quoted', ref['reference_source'])

  def test_quick_flags(self):
    args = run.parse_args(['--quick'])
    self.assertEqual(args.tasks, ['copy'])
    self.assertEqual(args.repeats, 2)

  def test_omniglot_mann_beside_lstm(self):
    data = os.environ.get('MEMAX_OMNIGLOT_DIR') or os.path.join(
        os.path.dirname(os.path.dirname(_BENCHMARKS)), 'shared', 'data',
        'omniglot')
    if not os.path.isdir(data):
      self.skipTest(f'no Omniglot zips in {data}')
    with mock.patch.dict(os.environ, {'MEMAX_OMNIGLOT_DIR': data}):
      records = _load('omniglot').main(
          ['--runlocal', '--repeats=2', '--steps_per_call=2'])
    mann, lstm, ratio = records
    self.assertEqual((mann['model'], lstm['model']), ('mann', 'lstm'))
    for rec in (mann, lstm):
      self.assertEqual(rec['repeats'], 2)
      self.assertAlmostEqual(rec['episodes_per_s'],
                             rec['batch_size'] * 1e3 / rec['ms_per_step'])
    self.assertEqual(ratio['kind'], 'ratio')
    self.assertAlmostEqual(ratio['mann_over_lstm'],
                           mann['ms_per_step'] / lstm['ms_per_step'])
    self.assertAlmostEqual(ratio['mann_projected_hours'],
                           ratio['num_steps'] * mann['ms_per_step'] / 3.6e6)

  def test_dam_recipe_cost(self):
    # The sys.path entry benchmarks/dam.py adds lets it import its sibling.
    (rec,) = _load('dam').cost_part(['dam_copy:runlocal'], repeats=2,
                                    steps_per_call=2)
    self.assertEqual((rec['kind'], rec['recipe'], rec['model'],
                      rec['repeats']), ('cost', 'dam_copy:runlocal', 'dam', 2))
    self.assertGreater(rec['ms_per_step'], 0)
    self.assertAlmostEqual(rec['projected_hours'],
                           rec['num_steps'] * rec['ms_per_step'] / 3.6e6)


class XlaSlowCompileTest(absltest.TestCase):

  def test_a_case_compiles_and_a_timeout_is_reported(self):
    module = _load('xla_slow_compile')
    with tempfile.TemporaryDirectory() as tmp:
      out = os.path.join(tmp, 'out.jsonl')
      with mock.patch('sys.stdout'):
        module.main(['--cases=looped_opt', '--batch_size=2',
                     '--steps_per_call=2', '--repeats=1', f'--out={out}'])
      with open(out) as f:
        (record,) = [json.loads(line) for line in f]
    self.assertEqual((record['case'], record['cpu_random_unrolled'],
                      record['xla_cpu_optimize'], record['timed_out']),
                     ('looped_opt', False, True, False))
    self.assertGreater(record['compile_s'], 0)
    self.assertGreater(record['ms_per_step'], 0)
    # A case that outlasts its timeout (here: 0.1 s, before JAX imports).
    args = argparse.Namespace(config='dnc_repeat_copy', batch_size=2,
                              steps_per_call=2, repeats=1, timeout=0.1,
                              dump_to='')
    late = module._run_case('unrolled_opt', args)  # pylint: disable=protected-access
    self.assertTrue(late['timed_out'])
    self.assertIsNone(late['compile_s'])
    with mock.patch('sys.stderr'), self.assertRaises(SystemExit):
      module.main(['--cases=fast'])


class GpuCheckScriptTest(absltest.TestCase):

  def test_runs_the_parts_asked_for_and_records_each(self):
    # benchmarks/gpu_check.sh is for the device machine; its plumbing (the
    # parts, their logs and the summary) is checked here on one quick part.
    with tempfile.TemporaryDirectory() as out:
      env = dict(os.environ, OUT=out, PARTS='devices', PY=sys.executable)
      env.pop('MEMAX_BABI_DIR', None)
      done = subprocess.run(
          ['bash', os.path.join(_BENCHMARKS, 'gpu_check.sh')], env=env,
          capture_output=True, text=True, timeout=120, check=True)
      with open(os.path.join(out, 'summary.txt')) as f:
        summary = f.read().split('\n')
      self.assertTrue(summary[0].startswith('rc=0 devices '), done.stdout)
      self.assertLen([line for line in summary if line], 1)
      with open(os.path.join(out, 'devices.log')) as f:
        self.assertIn('Device', f.read())


if __name__ == '__main__':
  absltest.main()
