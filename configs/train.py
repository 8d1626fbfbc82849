"""The composing config: any model on any task.

Launch:
  python -m memax.main --config=configs/train.py:model=ntm,task=copy \
      --workdir=runs/ntm_copy
Arguments after the colon: `model` (ntm, mann, dnc, lstm), `task` (copy,
repeat_copy, associative_recall, priority_sort, ngrams, omniglot,
babi_words),
`runlocal` (tiny sizes for smoke tests). Any field can be overridden, e.g. `--config.model.memory_size=64`.
"""

import ml_collections

from configs import common
from configs import models
from configs import tasks


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  arg = common.parse_arg(arg, model='ntm', task='copy', runlocal=False)
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = models.get(arg.model)
  config.task = tasks.get(arg.task)

  # The NTM paper's protocol (Graves et al. 2014, sec. 4): one sequence per
  # update, RMSProp with momentum 0.9, gradients clipped element-wise.
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = 'rmsprop'       # 'rmsprop', 'adam' or 'sgd'.
  config.optimizer.learning_rate = 1e-4
  config.optimizer.momentum = 0.9         # rmsprop / sgd.
  config.optimizer.decay = 0.95           # rmsprop.
  config.optimizer.eps = 1e-8
  config.optimizer.grad_clip_value = 10.0  # element-wise clip; 0 = off.
  config.optimizer.grad_clip_norm = 0.0   # global-norm clip; 0 = off.
  config.optimizer.grad_clip_norm_per_param = 0.0  # each array's norm; 0 = off.
  common.add_schedule_fields(config.optimizer)  # constant rate, no l2.

  config.train = ml_collections.ConfigDict()
  config.train.num_steps = 50_000
  config.train.batch_size = 1
  config.train.steps_per_call = 50        # train steps per jitted call.
  config.train.num_devices = 1            # data-parallel over this many
                                          # devices per process (CPU: host
                                          # devices); batch_size is global.
  config.train.length_buckets = 0         # > 0, with task.length_per_batch:
                                          # compute each batch only to the
                                          # end of its length bucket.
  config.train.log_every = 1000
  config.train.eval_every = 2000
  config.train.ckpt_every = 2000
  config.train.max_checkpoints = 3
  config.train.stop_metric = ''           # e.g. 'bit_errors': stop early...
  config.train.stop_below = 0.0           # ...when eval on train dist. < this.
  common.add_train_checks(config.train)
  # DAM's memory refreshing loss (memax.tasks.refresh): the probability
  # p_re that a refreshable input step must be reproduced; 0 = off.
  config.train.refresh_probability = 0.0
  config.train.linear_start_epochs = 0    # MemN2N's linear start (sec. 4.2):
                                          # n epochs, -1 = until the
                                          # validation loss stops decreasing.

  config.evals = ml_collections.ConfigDict()
  config.evals.num_batches = 4
  config.evals.batch_size = 64
  config.evals.periodic_variants = ()     # variants evaluated while training.
  config.evals.variants = 'all'           # variants evaluated at the end.
  config.evals.plot = True
  # bAbI: the examples of the final test split (else the last split
  # evaluated) that are plotted, by index in the split's order
  # (--config.evals.plot_examples=0,5).
  config.evals.plot_examples = (0,)
  # Also save each sampled variant's first example as <variant>.npz
  # beside its plot: inputs, targets, mask, probabilities and the model's
  # auxiliary outputs ('aux.usage', 'aux.write_weights', ...).
  config.evals.arrays = False

  common.add_launcher_fields(config)

  if arg.runlocal:
    runlocal(config)
  return config


def lstm_baseline(config: ml_collections.ConfigDict, num_steps: int
                  ) -> ml_collections.ConfigDict:
  """The NTM paper's 3 x 256 LSTM baseline, trained on batches of 16.

  One sequence per update is weight-bandwidth bound for this LSTM on a CPU
  (about 18 updates/s here), so the baseline trains on batches of 16 with
  Adam instead of the paper's RMSProp protocol.
  """
  config.model.hidden_size = 256
  config.model.num_layers = 3
  config.train.batch_size = 16
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 1e-3
  config.optimizer.grad_clip_value = 0.0
  config.optimizer.grad_clip_norm = 10.0
  config.train.num_steps = num_steps
  config.train.steps_per_call = 10
  config.train.log_every = 200
  config.train.eval_every = 1000
  config.train.ckpt_every = 1000
  return config


def dnc_protocol(config: ml_collections.ConfigDict, num_steps: int
                 ) -> ml_collections.ConfigDict:
  """deepmind/dnc's training protocol (its train.py): batches of 16,
  RMSProp 1e-4 without momentum (decay 0.9, eps 1e-10), gradients clipped
  to a global norm of 50, controller output and state clipped to 20.

  One difference stays: TensorFlow 1's RMSProp starts its mean square at
  1, optax's at 0 (the first updates are larger here).
  """
  config.optimizer.name = 'rmsprop'
  config.optimizer.learning_rate = 1e-4
  config.optimizer.momentum = 0.0
  config.optimizer.decay = 0.9
  config.optimizer.eps = 1e-10
  config.optimizer.grad_clip_value = 0.0
  config.optimizer.grad_clip_norm = 50.0
  config.model.controller_clip = 20.0
  config.train.batch_size = 16
  config.train.num_steps = num_steps
  config.train.steps_per_call = 100
  return config


def ntm_sizes(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The NTM's sizes on the NTM paper's tasks: controller 100, memory
  128 x 20 (for a DNC beside the NTM)."""
  config.model.controller_size = 100
  config.model.memory_size = 128
  config.model.word_size = 20
  return config


def runlocal(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks sizes and steps in place for smoke tests and CI."""
  if config.model.name in ('ntm', 'mann', 'dnc', 'dam'):
    config.model.controller_size = 16
    config.model.memory_size = 16
    config.model.word_size = 8
  else:
    config.model.hidden_size = 16
    config.model.num_layers = 1
  config.task.update(tasks.RUNLOCAL[config.task.name])
  config.train.num_steps = 4
  config.train.batch_size = 2
  config.train.steps_per_call = 2
  config.train.log_every = 2
  config.train.eval_every = 2
  config.train.ckpt_every = 2
  config.train.stop_metric = ''
  config.evals.num_batches = 1
  config.evals.batch_size = 2
  return config
