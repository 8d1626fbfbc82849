"""Launcher: flags -> config -> `train_and_evaluate`.

  python -m memax.main --config=configs/ntm_copy.py --workdir=runs/ntm_copy
  python -m memax.main --config=configs/train.py:model=lstm,task=copy \
      --config.train.num_steps=2000 --workdir=runs/lstm_copy

Many hosts: the same command on every host, with `--coordinator_address`
(process 0's host:port), `--num_processes` and `--process_id` (or their
`MEMAX_*` variables; see `memax.training.distributed`).
"""

import json

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from memax import cli
from memax.training import distributed
from memax.training import sharding
from memax.training import train

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file (configs/*.py[:arg]).',
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Output directory; re-running with it resumes.')
flags.mark_flags_as_required(['config', 'workdir'])
_PROCESSES = distributed.define_flags()


def main(argv):
  del argv
  # Checked, and joined, before anything else (JAX has not started).
  cli.run_or_exit(distributed.initialize, *(f.value for f in _PROCESSES))
  cli.start(_CONFIG.value.get('compilation_cache', 'auto'))
  sharding.use_cpu_devices(_CONFIG.value.train.get('num_devices', 1))
  logging.info('JAX devices: %s (process %d of %d).', jax.devices(),
               jax.process_index(), jax.process_count())
  results = cli.run_or_exit(train.train_and_evaluate, _CONFIG.value,
                           _WORKDIR.value)
  distributed.shutdown()
  if not distributed.is_main_process():
    print(f'Process {jax.process_index()} stopped at step {results["step"]}; '
          f'process 0 wrote the results in {_WORKDIR.value}.')
    return
  summary = {k: v for k, v in results.items() if k != 'last_train_log'}
  print(json.dumps(summary, indent=1, sort_keys=True, default=str))
  print(f'\nStopped at step {results["step"]} after '
        f'{results["wall_seconds"]:.0f} s. Final evaluation:')
  for member in results.get('members', [results]):
    if 'overrides' in member:
      print(f'  member {member["overrides"]}:')
    for name, metrics in member.items():
      if isinstance(metrics, dict) and name not in ('last_train_log',
                                                    'overrides'):
        print(f'  {name:>24}: ' + ', '.join(f'{k} {v:.4g}'
                                            for k, v in metrics.items()))
  print(f'Results in {_WORKDIR.value}: '
        + ', '.join(cli.run_outputs(_WORKDIR.value)))


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
