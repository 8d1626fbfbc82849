"""Strongly supervised MemNN on bAbI (Weston et al. 2015, Memory Networks).

Hard lookups of k supporting facts with `s(x, y) = x^T U^T U y`, the
write-time features of sec. 3.4, and the margin ranking loss (margin 0.1)
over the supporting facts and the answer, using the files' supporting-fact
labels (strong supervision). k = 2 lookups, 3 for task 3 and for joint
training (task 3 has three facts); a learned "no fact" candidate serves
questions with fewer facts than lookups. Bag-of-words features only: the
paper's adaptive memories, n-gram and nonlinear extensions (behind the
published 6.7 % mean error) are not implemented.

Optimiser: the paper's schedule is not published in detail; this config uses
Adam at 3e-3 with batches of 32, 100 epochs for one task and 30 for joint.

Commands:
  python -m memax.main --config=configs/memnn_babi.py:tasks=1 \
      --workdir=runs/memnn_babi_qa1
  python -m memax.main --config=configs/memnn_babi.py:tasks=0 \
      --workdir=runs/memnn_babi_joint              # joint, all 20 tasks, 1k
Measured results: experiments/babi/README.md.
"""

import ml_collections

from configs import babi


def model() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'memnn'
  c.embedding_size = 50            # rows of U_O and U_R.
  c.num_hops = 2                   # k supporting-fact lookups.
  c.margin = 0.1                   # gamma of the ranking loss.
  c.num_negatives = 0              # 0 = every other slot / word.
  c.time_features = True           # sec. 3.4 write-time features.
  c.null_memory = True             # a learned "no fact" candidate.
  c.ngram_sizes = ()               # NG: hashed bags of n-grams, e.g. (2, 3).
  c.ngram_buckets = 8192           # NG hash buckets per role.
  c.hidden_size = 0                # NL: tanh layer of the matching network.
  c.init_std = 0.1
  return c


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: `tasks=<1..20|0 joint>,set=<en|en-10k>,runlocal`."""
  arg = babi.parse(arg)
  config = babi.get_config(model(), arg)
  if arg.tasks in (0, 3):
    config.model.num_hops = 3
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 3e-3
  config.optimizer.schedule = 'constant'
  config.optimizer.grad_clip_norm = 40.0
  config.train.num_epochs = 30 if arg.tasks == 0 else 100
  return babi.runlocal(config) if arg.runlocal else config
