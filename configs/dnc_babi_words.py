"""DNC on word-level bAbI: the DNC paper's DNC1 setting (Graves et al. 2016).

One sequence per story, one word per step, the answers at '-' steps
(`memax.tasks.babi_words`), all 20 tasks jointly. DNC1 of the paper's
Methods: an LSTM controller of 256 units, memory 256 x 64, 4 read heads and
1 write head, key strengths by oneplus, the gradients of the controller's
activations clipped to [-10, 10], RMSProp 1e-4 with momentum 0.9. Ours
where the paper is silent: stories in batches of 16 (`train.batch_size`),
RMSProp decay 0.95 and no other gradient clipping, 10 % of each task's
training stories held out for validation, and evaluations every 2,000
batches. The best checkpoint by validation error is kept. Each batch is
computed to the end of one of 10 length buckets (`train.length_buckets`;
the stories are 24 to 820 words, padded to 1,378): the loss and gradients
are the full batch's, and on CPU at batch 16 a train step took 8.6 s
against 30.9 s skipping the padded steps inside the scan, at the cost of
10 gradient programs to compile (470 s against 77 s at load 9; the
persistent compilation cache keeps them for later launches).

`set=en-10k` (the paper's; the shared copy lacks qa3's train file, so qa3
is tested untrained, as in the MemN2N 10k row) or `set=en` (1k).

Command:
  python -m memax.main --config=configs/dnc_babi_words.py:set=en --workdir=runs/dnc_babi_words_en
"""

import ml_collections

from configs import common
from configs import train


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: `set=en-10k|en`, `tasks=0` (joint) or a task id; 'runlocal'
  shrinks sizes and steps for smoke tests; `seeds=N` sizes the sweep."""
  arg = common.parse_arg(arg, set='en-10k', tasks=0, runlocal=False, seeds=0)
  if arg.set not in ('en', 'en-10k'):
    raise ValueError(f'configs/dnc_babi_words.py: set={arg.set!r}; expected '
                     "'en' or 'en-10k'.")
  config = train.get_config('model=dnc,task=babi_words')
  config.task.set_name = arg.set
  config.task.tasks = arg.tasks
  config.model.update(controller='lstm', controller_size=256, memory_size=256,
                      word_size=64, num_read_heads=4, strength='oneplus',
                      controller_clip=0.0, activation_grad_clip=10.0)
  config.optimizer.update(name='rmsprop', learning_rate=1e-4, momentum=0.9,
                          decay=0.95, grad_clip_value=0.0, grad_clip_norm=0.0)
  config.train.update(batch_size=16, num_steps=500_000, steps_per_call=100,
                      log_every=1000, eval_every=2000, ckpt_every=2000,
                      best_metric='valid/error', length_buckets=10)
  config.evals.variants = 'valid,test'
  # Only the validation split while training (best_metric's split): the
  # whole train split, which `periodic_variants` always adds, is 18,000
  # questions on en and 180,000 on en-10k (on en, DNC1, a 2-core CPU: 184 s
  # to evaluate both splits, against about 450 s for 250 train steps).
  del config.evals.periodic_variants
  config.evals.periodic_splits = ('valid',)
  if arg.runlocal:
    train.runlocal(config)
    config.task.set_name = 'en'
    config.task.tasks = arg.tasks or 1
    config.evals.variants = 'valid'
    config.train.best_metric = 'auto'
    config.train.length_buckets = 2  # compiles 2 gradients, not 10.
  return config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: seeds 0..N-1 (`seeds=N`, default 3)."""
  common.add_seeds(add, arg, 3)
