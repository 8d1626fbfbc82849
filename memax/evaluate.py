"""Evaluates a trained run: rebuilds the model from its workdir.

  python -m memax.evaluate --workdir=runs/ntm_copy \
      --set=task.eval_lengths=[120,160] --set=model.memory_size=256

Writes `eval/<variant><tag>.json` and `plots/<variant><tag>.png` in the
workdir. Overrides (`--set field=value`) change any config field, such as the
sequence length, the number of items or the memory size; the parameters are
the trained ones.
"""

import ast
import json
import os

from absl import app
from absl import flags
from absl import logging
import jax
import ml_collections

from memax.training import checkpoint
from memax.training import evaluate as evaluate_lib
from memax.training import train

_WORKDIR = flags.DEFINE_string('workdir', None, 'A training workdir.')
_SET = flags.DEFINE_multi_string(
    'set', [], 'Config override `field=value`, e.g. model.memory_size=256.')
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
_TAG = flags.DEFINE_string('tag', None, 'Suffix of the output file names '
                           '(default: derived from the overrides).')
flags.mark_flag_as_required('workdir')


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """Reads `workdir/config.json`; a clear error if it is missing."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise FileNotFoundError(
        f'{path} not found: --workdir must be a directory written by '
        '`python -m memax.main` (it holds config.json and checkpoints/).')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def apply_overrides(config: ml_collections.ConfigDict,
                    overrides: list[str]) -> ml_collections.ConfigDict:
  """Applies `field.path=value` overrides; values are Python literals.

  Raises:
    ValueError: naming the override that is malformed or names no field.
  """
  config = ml_collections.ConfigDict(config.to_dict())
  for item in overrides:
    path, sep, text = item.partition('=')
    if not sep:
      raise ValueError(f'Override {item!r} must look like field.path=value.')
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = text
    if isinstance(value, list):
      value = tuple(value)
    *parents, leaf = path.split('.')
    node = config
    for p in parents:
      if p not in node:
        raise ValueError(f'Override {item!r}: config has no field {path!r}.')
      node = node[p]
    if leaf not in node:
      raise ValueError(f'Override {item!r}: config has no field {path!r}.')
    if isinstance(node[leaf], (list, tuple)) and isinstance(value, (int,
                                                                    float)):
      value = (value,)
    if isinstance(node[leaf], float) and isinstance(value, int):
      value = float(value)
    node[leaf] = list(value) if isinstance(node[leaf], list) else value
  return config


def load_params(config: ml_collections.ConfigDict, workdir: str,
                step: int | None = None):
  """Restores the trained parameters of `workdir` (latest or `step`)."""
  if checkpoint.latest_step(workdir) is None:
    raise FileNotFoundError(
        f'No checkpoint in {os.path.join(workdir, "checkpoints")}: train '
        'first with `python -m memax.main --workdir=...`.')
  model, task = train.build(config)
  optimizer = train.make_optimizer(config.optimizer)
  # Only the structure is needed to restore: trace, don't compile or run.
  abstract = jax.eval_shape(
      lambda: train.init_state(model, task, optimizer, jax.random.key(0)))
  mngr = checkpoint.manager(workdir, read_only=True)
  if step is not None and step not in mngr.all_steps():
    raise FileNotFoundError(f'No checkpoint for step {step} in {workdir}; '
                            f'available: {mngr.all_steps()}.')
  state = checkpoint.restore(mngr, abstract, step)
  return state.params, int(state.step)


def run(workdir: str, overrides: list[str], *, step: int | None = None,
        tag: str | None = None) -> dict:
  """Evaluates every variant of the run's task under `overrides`."""
  trained = load_config(workdir)
  config = apply_overrides(trained, overrides)
  params, restored_step = load_params(trained, workdir, step)
  if tag is None:
    tag = ''.join('_' + o.replace('=', '-').replace('.', '-')
                  .replace(',', '-').replace('(', '').replace(')', '')
                  .replace('[', '').replace(']', '').replace(' ', '')
                  for o in overrides)
  results = evaluate_lib.final_evaluation(
      config, workdir, params, jax.random.key(config.seed + 1), tag=tag,
      step=restored_step)
  logging.info('Evaluated step %d of %s: %s', restored_step, workdir,
               json.dumps(results, indent=1))
  return results


def main(argv):
  del argv
  results = run(_WORKDIR.value, _SET.value, step=_STEP.value, tag=_TAG.value)
  print(json.dumps(results, indent=1))


if __name__ == '__main__':
  app.run(main)
