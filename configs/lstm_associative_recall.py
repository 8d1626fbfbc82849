"""LSTM baseline on associative recall: the NTM paper's 3 x 256 LSTM, batches of 16.

Command:
  python -m memax.main --config=configs/lstm_associative_recall.py --workdir=runs/lstm_associative_recall
Evaluate (longer sequences, bigger memory) after training:
  python -m memax.evaluate --workdir=runs/lstm_associative_recall --set=model.memory_size=256
Measured results: experiments/ntm_algorithmic/README.md.
"""

import ml_collections

from configs import common
from configs import train


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: 'runlocal' shrinks sizes and steps for smoke tests."""
  arg = common.parse_arg(arg, runlocal=False)
  config = train.get_config('model=lstm,task=associative_recall')
  config.model.hidden_size = 256
  config.model.num_layers = 3
  # One sequence per update is weight-bandwidth bound for a 3 x 256 LSTM on a
  # CPU (about 18 updates/s here), so the baseline trains on batches of 16
  # with Adam instead of the paper's RMSProp protocol.
  config.train.batch_size = 16
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 1e-3
  config.optimizer.grad_clip_value = 0.0
  config.optimizer.grad_clip_norm = 10.0
  config.train.num_steps = 5_000
  config.train.steps_per_call = 10
  config.train.log_every = 200
  config.train.eval_every = 1000
  config.train.ckpt_every = 1000
  return train.runlocal(config) if arg.runlocal else config
