"""Launcher: flags -> config -> `train_and_evaluate`.

  python -m memax.main --config=configs/ntm_copy.py --workdir=runs/ntm_copy
  python -m memax.main --config=configs/train.py:model=lstm,task=copy \
      --config.train.num_steps=2000 --workdir=runs/lstm_copy
"""

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from memax.training import train

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file (configs/*.py[:arg]).',
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Output directory; re-running with it resumes.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  del argv
  logging.info('JAX devices: %s', jax.devices())
  train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == '__main__':
  app.run(main)
