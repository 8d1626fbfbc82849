"""Runs the code cells of the notebooks against a freshly trained workdir."""

import importlib.util
import json
import os
import shutil
import tempfile

from absl.testing import absltest
import matplotlib

from configs import train as train_config
from memax.training import train

matplotlib.use('Agg')
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def execute_notebook(name: str, out: str, **settings: str):
  """Runs notebooks/<name> through notebooks/execute.py (which writes the
  committed outputs) into `out`, with `--set NAME=VALUE` for each setting.

  Returns:
    (its code cells, the kinds of their outputs, their printed text).
  """
  spec = importlib.util.spec_from_file_location(
      'notebooks_execute', os.path.join(_ROOT, 'notebooks', 'execute.py'))
  execute = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(execute)
  sets = [a for k, v in settings.items() for a in ('--set', f'{k}={v}')]
  execute.main([os.path.join(_ROOT, 'notebooks', name), *sets, '--out', out])
  with open(out) as f:
    cells = [c for c in json.load(f)['cells'] if c['cell_type'] == 'code']
  kinds = [o['output_type'] for c in cells for o in c['outputs']]
  text = ''.join(t for c in cells for o in c['outputs']
                 if o['output_type'] == 'stream' for t in o['text'])
  return cells, kinds, text


class NotebooksTest(absltest.TestCase):

  def test_ntm_weights_notebook_runs(self):
    workdir = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, workdir)
    config = train_config.get_config('model=ntm,task=copy,runlocal')
    config.evals.plot = False
    # Only the workdir matters here; the final evaluation of the longer
    # variants (each an NTM program to compile) is train_test's.
    config.evals.variants = 'train'
    train.train_and_evaluate(config, workdir)
    with open(os.path.join(_ROOT, 'notebooks', 'ntm_weights.ipynb')) as f:
      cells = [''.join(c['source']) for c in json.load(f)['cells']
               if c['cell_type'] == 'code']
    namespace = {}
    cells[0] = cells[0].replace("'../runs/demo_ntm_copy'", repr(workdir))
    for code in cells:
      exec(compile(code, 'ntm_weights.ipynb', 'exec'), namespace)  # pylint: disable=exec-used
    self.assertEqual(namespace['aux']['write_weights'].shape[-1], 256)
    self.assertGreaterEqual(namespace['errors'], 0.0)


if __name__ == '__main__':
  absltest.main()
