"""Runs a notebook's code cells and stores their outputs in the notebook.

The committed notebooks carry the outputs of a real run, so that a reader on
GitHub sees the figures without running anything. This writes them without
Jupyter: each code cell runs in one namespace (from the notebook's folder),
its printed text becomes a stream output and each matplotlib figure it
leaves open a PNG output.

  python notebooks/execute.py notebooks/mann_omniglot.ipynb \
      --set WORKDIR=/path/to/a/run [--out other.ipynb]

`--set NAME=VALUE` replaces the first assignment `NAME = ...` in the code
with `NAME = 'VALUE'` (the workdir a notebook reads).
"""

import argparse
import base64
import contextlib
import io
import json
import os
import re
import sys

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top


def _figures() -> list[dict]:
  outputs = []
  for number in plt.get_fignums():
    buffer = io.BytesIO()
    plt.figure(number).savefig(buffer, format='png', dpi=80,
                               bbox_inches='tight')
    outputs.append({'output_type': 'display_data', 'metadata': {},
                    'data': {'image/png': base64.b64encode(
                        buffer.getvalue()).decode('ascii'),
                             'text/plain': ['<Figure>']}})
  plt.close('all')
  return outputs


def execute(notebook: dict, settings: dict[str, str], name: str) -> dict:
  """Runs `notebook`'s code cells; returns it with outputs and counts."""
  namespace = {'__name__': '__main__'}
  count = 0
  plt.show = lambda *a, **k: None  # figures are collected after each cell.
  for cell in notebook['cells']:
    if cell['cell_type'] != 'code':
      continue
    source = ''.join(cell['source'])
    for key, value in settings.items():
      source, n = re.subn(rf'^{key} = .*$', f'{key} = {value!r}', source,
                          count=1, flags=re.M)
      if n:
        cell['source'] = source.splitlines(True)
    count += 1
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
      exec(compile(source, f'{name} cell {count}', 'exec'), namespace)  # pylint: disable=exec-used
    outputs = []
    if text.getvalue():
      outputs.append({'output_type': 'stream', 'name': 'stdout',
                      'text': text.getvalue().splitlines(True)})
    outputs += _figures()
    cell['outputs'], cell['execution_count'] = outputs, count
  return notebook


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('notebook')
  p.add_argument('--set', action='append', default=[], metavar='NAME=VALUE')
  p.add_argument('--out', default='', help='write here (default: in place)')
  args = p.parse_args(argv)
  settings = dict(item.split('=', 1) for item in args.set)
  with open(args.notebook) as f:
    notebook = json.load(f)
  here = os.getcwd()
  os.chdir(os.path.dirname(os.path.abspath(args.notebook)))
  sys.path.insert(0, os.path.dirname(os.getcwd()))
  try:
    notebook = execute(notebook, settings, os.path.basename(args.notebook))
  finally:
    os.chdir(here)
  with open(args.out or args.notebook, 'w') as f:
    json.dump(notebook, f, indent=1)
    f.write('\n')


if __name__ == '__main__':
  main()
