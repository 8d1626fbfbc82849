"""The scripts under experiments/: each runs on a tiny trained run."""

import json
import os
import subprocess
import sys
import tempfile

from absl.testing import absltest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, **kw):
  return subprocess.run([sys.executable, *args], capture_output=True,
                        text=True, cwd=_ROOT, timeout=300,
                        env=dict(os.environ, PYTHONPATH=_ROOT), **kw)


class LinkGradientsTest(absltest.TestCase):

  def test_dense_and_sparse_gradients_agree_where_k_covers_the_memory(self):
    with tempfile.TemporaryDirectory() as tmp:
      workdir = os.path.join(tmp, 'dnc')
      trained = _run(['-m', 'memax.main',
                      '--config=configs/dnc_copy.py:runlocal',
                      f'--workdir={workdir}', '--config.evals.plot=False'])
      self.assertEqual(trained.returncode, 0, trained.stderr[-2000:])
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


if __name__ == '__main__':
  absltest.main()
