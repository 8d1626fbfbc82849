"""MemN2N on bAbI (Sukhbaatar et al. 2015), the paper's training protocol.

3 hops, adjacent weight tying, position encoding (PE), temporal encoding with
10 % random noise (RN), linear start (LS); SGD at 0.01 (0.005 with LS) halved
every 25 epochs for 100 epochs, batch 32 with the loss summed over the batch,
gradients clipped to norm 40, N(0, 0.1) initialisation, memory of the last 50
sentences (sec. 4.2). Joint training (`tasks=0`): embedding 50, 60 epochs,
halved every 15 (1k); 20 epochs, halved every 5 (10k).

Linear start ends, as in the paper, at the first epoch whose validation loss
is not below the best so far (`model.linear_start_epochs = -1`; a number
instead fixes its length in epochs, 0 turns it off); the validation split is
evaluated after every epoch for this.

Commands:
  python -m memax.main --config=configs/memn2n_babi.py:tasks=1 \
      --workdir=runs/memn2n_babi_qa1
  python -m memax.main --config=configs/memn2n_babi.py:tasks=0 \
      --workdir=runs/memn2n_babi_joint            # joint, all 20 tasks, 1k
  python -m memax.main --config=configs/memn2n_babi.py:tasks=0,set=en-10k \
      --workdir=runs/memn2n_babi_joint_10k
Measured results: experiments/babi/README.md.
"""

import ml_collections

from configs import babi


def model() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'memn2n'
  c.embedding_size = 20            # d (50 when joint).
  c.num_hops = 3                   # K.
  c.weight_tying = 'adjacent'      # or 'layerwise'.
  c.encoding = 'position'          # 'position' (PE) or 'bow'.
  c.temporal_encoding = True       # TE.
  c.random_noise = 0.1             # RN: fraction of empty memories (train).
  c.temporal_size = 50             # rows of the temporal tables.
  c.linear_start_epochs = -1       # LS: -1 = until the validation loss
                                   # stops decreasing; n = n epochs; 0 = off.
  c.init_std = 0.1
  return c


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: `tasks=<1..20|0 joint>,set=<en|en-10k>,runlocal`."""
  arg = babi.parse(arg)
  config = babi.get_config(model(), arg)
  config.optimizer.learning_rate = 0.005   # 0.01 without linear start.
  if arg.tasks == 0:
    config.model.embedding_size = 50
    ten_k = arg.set == 'en-10k'
    config.train.num_epochs = 20 if ten_k else 60
    config.optimizer.decay_every_epochs = 5 if ten_k else 15
  config.train.eval_every_epochs = 1       # the linear-start check.
  return babi.runlocal(config) if arg.runlocal else config
