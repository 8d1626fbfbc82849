"""One-shot learning on Omniglot (Santoro et al. 2016): the shared setup.

`configs/mann_omniglot.py` and `configs/lstm_omniglot.py` build on it. The
seed implementation's protocol (snowkylin/ntm): episodes of 5 classes and
50 images with one-hot labels, batches of 16 episodes, Adam 1e-3 without
gradient clipping, 100,000 batches; its test is 100 batches of 16 episodes
of held-out classes. `labels=string` is the paper's 15-way task with
5-character string labels (Table 2), episodes of 100 images (our choice:
with 15 classes in 50 steps few classes reach their 10th instance).
"""

import ml_collections

from configs import common
from configs import train


def get_config(model: str, arg: str | None, **model_fields
               ) -> ml_collections.ConfigDict:
  """`arg`: `labels=string` (15-way), `runlocal`, `seeds=N` (the sweep);
  `model_fields` override `config.model`'s defaults."""
  arg = common.parse_arg(arg, labels='one_hot', runlocal=False, seeds=0)
  if arg.labels not in ('one_hot', 'string'):
    raise ValueError("The config argument labels must be 'one_hot' or "
                     f"'string', got {arg.labels!r}.")
  config = train.get_config(f'model={model},task=omniglot')
  config.model.update(model_fields)
  if arg.labels == 'string':
    config.task.labels = 'string'
    config.task.num_classes = 15
    config.task.episode_length = 100
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 1e-3
  config.optimizer.grad_clip_value = 0.0
  config.train.batch_size = 16
  config.train.num_steps = 100_000
  config.train.steps_per_call = 20
  config.train.log_every = 500
  config.train.eval_every = 2000
  config.train.ckpt_every = 2000
  # Held-out classes while training, and the best checkpoint by them is
  # kept: the paper has no validation split, so the final numbers are the
  # last step's, not the best.
  config.evals.periodic_variants = ('test',)
  config.train.best_metric = 'off'
  config.evals.num_batches = 100
  config.evals.batch_size = 16
  if arg.runlocal:
    train.runlocal(config)
  return config
