"""DAM on word-level bAbI, taewonpark/DAM's bAbI commands (Park et al. 2021).

The DNC paper's word-level protocol (`memax.tasks.babi_words`), en-10k
joint (the shared copy lacks qa3's train file: qa3 is tested untrained);
training stories over 800 steps dropped; token ids embedded in 64
dimensions; K = 2 blocks of 128 x 48, 4 read heads, an LSTM of 256;
batches of 32, RMSProp 3e-5 (momentum 0.9) for 50 epochs, then 5 more at
1e-5 (the code's fine-tuning run, here one schedule: the rate is divided by
3 at epoch 50); the memory refreshing loss at p_re = 0.1 on the statements'
words. Ours: 10 % of each task's training stories held out for
validation (the code trains on all of them; the best checkpoint by the
validation error is kept), an evaluation every epoch, and length buckets
as `configs/dnc_babi_words.py`. The code's alpha also counts the answer
('-') steps drawn for refreshing (then given alpha instead), about p_re
more than memax's, and its question mask has a bug
(`memax/tasks/babi_words.py`).
`model=dam1|dnc`, `p_re=P`: the comparison of configs/dam.py. `set=en` for
the 1k stories.

Command:
  python -m memax.main --config=configs/dam_babi.py --workdir=runs/dam_babi
"""

import ml_collections

from configs import dam
from configs import train

P_RE = 0.1


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: `model=dam|dam1|dnc`, `p_re=P`, `set=en-10k|en`, `runlocal`,
  `seeds=N`."""
  config, arg = dam.get_config(
      'babi_words', arg, p_re=P_RE, num_blocks=2, controller_size=256,
      memory_size=128, word_size=48, num_read_heads=4, batch_size=32,
      learning_rate=3e-5, num_steps=1, set='en-10k')
  if arg.set not in ('en', 'en-10k'):
    raise ValueError(f'configs/dam_babi.py: set={arg.set!r}; expected '
                     "'en' or 'en-10k'.")
  config.task.update(set_name=arg.set, tasks=0, inputs='ids',
                     max_train_length=800)
  config.model.embedding_size = 64
  with config.unlocked():
    # The rate times 1/3 at epoch 50: the decay counts `every` epochs from
    # `start`, so from 45 by 5; the run ends at 55.
    config.optimizer.update(schedule='step', decay_factor=1 / 3,
                            decay_start_epochs=45, decay_every_epochs=5)
    # Counted in epochs: one jitted call per epoch, evaluated and saved.
    config.train.num_epochs = 55
  config.train.update(best_metric='valid/error', length_buckets=10)
  config.evals.variants = 'valid,test'
  # Only the validation split while training (best_metric's split): the
  # whole train split, which `periodic_variants` always adds, is 18,000
  # questions on en and 180,000 on en-10k (on en, DNC1, a 2-core CPU: 184 s
  # to evaluate both splits, against about 450 s for 250 train steps).
  del config.evals.periodic_variants
  config.evals.periodic_splits = ('valid',)
  if arg.runlocal:
    train.runlocal(config)
    config.task.update(set_name='en', tasks=1)
    config.model.embedding_size = 8
    config.evals.variants = 'valid'
    config.train.best_metric = 'auto'
    config.train.length_buckets = 2
    config.train.num_epochs = 2
    config.optimizer.update(decay_start_epochs=0, decay_every_epochs=1)
  return config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: p_re in {0, 0.1} x seeds 0..N-1 (3)."""
  dam.sweep(add, arg, P_RE)
