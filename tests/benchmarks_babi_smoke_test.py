"""Smoke test of benchmarks/babi.py: the --quick run (task 1), two models.

The benchmark's code is the same for every model (the train chunk that
`memax.main` trains with); MemN2N as the base of the ratio, and MemN2N with
its authors' code's protocol as a `model:args` variant. KV-MemNN and MemNN,
left out to save their compilation, train through the same chunk, and
resume, in tests/training/babi_train_test.py.
"""

import json
import os
import subprocess
import sys
import tempfile

from absl.testing import absltest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BabiBenchmarkSmokeTest(absltest.TestCase):

  def test_quick_run_prints_json_per_model(self):
    with tempfile.TemporaryDirectory() as tmp:
      out = os.path.join(tmp, 'b.json')
      proc = subprocess.run(
          [sys.executable, 'benchmarks/babi.py', '--quick', f'--out={out}',
           '--models=memn2n,memn2n:protocol=code'],
          cwd=_ROOT, capture_output=True, text=True, timeout=600, check=True)
      lines = [json.loads(l) for l in proc.stdout.splitlines()
               if l.startswith('{')]
      with open(out) as f:
        saved = json.load(f)
    measured = [r for r in lines if r['kind'] == 'measurement']
    self.assertEqual([r['model'] for r in measured], ['memn2n', 'memn2n'])
    self.assertEqual(measured[0]['variant'], '')
    self.assertEqual(measured[1]['variant'], 'protocol=code')
    self.assertEqual(measured[0]['model_config']['encoding'], 'position')
    self.assertEqual(measured[1]['model_config']['encoding'],
                     'position_centered')
    for rec in measured:
      self.assertEqual(rec['tasks'], [1])
      self.assertEqual(rec['steps_per_epoch'], 900 // rec['batch_size'])
      self.assertGreater(rec['train_examples_per_s'], 0.0)
      self.assertAlmostEqual(
          rec['ms_per_step'], 1e3 * rec['epoch_s'] / rec['steps_per_epoch'])
    ratios = [r for r in lines if r['kind'] == 'ratio']
    self.assertEqual([(r['model'], r['over']) for r in ratios],
                     [('memn2n:protocol=code', 'memn2n')])
    self.assertEqual(saved['records'], lines)


if __name__ == '__main__':
  absltest.main()
