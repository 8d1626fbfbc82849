"""MemN2N on bAbI (Sukhbaatar et al. 2015), the paper's training protocol.

3 hops, adjacent weight tying, position encoding (PE), temporal encoding with
10 % random noise (RN), linear start (LS); SGD at 0.01 (0.005 with LS) halved
every 25 epochs for 100 epochs, batch 32 with the loss summed over the batch,
gradients clipped to norm 40, N(0, 0.1) initialisation, memory of the last 50
sentences (sec. 4.2). Joint training (`tasks=0`): embedding 50, 60 epochs,
halved every 15 (1k); 20 epochs, halved every 5 (10k).

Linear start ends, as in the paper, at the first epoch whose validation loss
is not below the best so far (`train.linear_start_epochs = -1`; a number
instead fixes its length in epochs, 0 turns it off); the validation split is
evaluated after every epoch for this.

`protocol=code` follows the code the authors released with the paper
(facebook/MemNN, Matlab and Lua) where it differs from the text: the
position encoding `1 + 4 (k - (d+1)/2) (j - (J+1)/2) / (d J)`, centred on 1
rather than 1/2 (`model.encoding = 'position_centered'`), and a linear
start of a fixed 20 epochs (30 joint) at 0.005, followed by the full
schedule (100 epochs halved every 25; joint 60 halved every 15), again
from 0.005 (`optimizer.decay_start_epochs`), and its memory: the empty slots
of a story stay in the attention softmax as zero vectors
(`model.mask_empty_slots = False`). Settings quoted from that code's
configuration and model files.

Commands:
  python -m memax.main --config=configs/memn2n_babi.py:tasks=1 \
      --workdir=runs/memn2n_babi_qa1
  python -m memax.main --config=configs/memn2n_babi.py:tasks=0 \
      --workdir=runs/memn2n_babi_joint            # joint, all 20 tasks, 1k
  python -m memax.main --config=configs/memn2n_babi.py:tasks=0,protocol=code \
      --workdir=runs/memn2n_babi_joint_code       # the authors' code
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
  c.position_length = 'sentence'   # PE's J: 'sentence' (true length) or
                                   # 'padded' (the authors' code).
  c.temporal_encoding = True       # TE.
  c.random_noise = 0.1             # RN: fraction of empty memories (train).
  c.temporal_size = 50             # rows of the temporal tables.
  c.mask_empty_slots = True        # False: empty slots stay in the softmax
                                   # as zero vectors (the authors' code).
  c.init_std = 0.1
  c.slots_per_example = 16        # speed only: see MemN2N (0 = all slots).
  return c


PROTOCOLS = ('paper', 'code')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: `tasks=<1..20|0 joint>,set=<en|en-10k>,protocol=<paper|code>`.

  Also `runlocal` (tiny sizes for smoke tests).
  """
  arg = babi.parse(arg, protocol='paper')
  if arg.protocol not in PROTOCOLS:
    raise ValueError(f'Unknown config argument protocol={arg.protocol!r}; '
                     f'expected one of {PROTOCOLS}.')
  config = babi.get_config(model(), arg)
  config.train.linear_start_epochs = -1    # LS: -1 = until the validation
                                           # loss stops decreasing; n = n
                                           # epochs; 0 = off.
  config.optimizer.learning_rate = 0.005   # 0.01 without linear start.
  # A population runs its members one after another through the single
  # run's step: on one 2-core CPU device 16 members ran 1.03-1.06x the
  # speed of 16 runs, against 0.94-0.99x in one vmap (docs/benchmarks.md,
  # session 13). On an accelerator, or split over devices
  # (train.num_devices > 1), 0 (one vmap).
  config.population.vmap_size = 1
  ten_k = arg.set == 'en-10k'
  if arg.tasks == 0:
    config.model.embedding_size = 50
    config.train.num_epochs = 20 if ten_k else 60
    config.optimizer.decay_every_epochs = 5 if ten_k else 15
  if arg.protocol == 'code':
    # The authors' released code: its position encoding, its memory of
    # zero vectors in the empty slots, and a fixed linear start (20 epochs;
    # 30 joint) at a constant rate, after which the whole schedule above runs
    # from its start.
    config.model.encoding = 'position_centered'
    config.model.mask_empty_slots = False
    if arg.tasks == 0:
      ls = 5 if ten_k else 30      # 10k: our choice (the code has 1k only).
    else:
      ls = 20
    config.train.linear_start_epochs = ls
    config.optimizer.decay_start_epochs = ls
    config.train.num_epochs += ls
  else:
    config.train.eval_every_epochs = 1     # the linear-start check.
  return babi.runlocal(config) if arg.runlocal else config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: seeds 0-9 (`seeds=N`); `each_task`: tasks 1-20."""
  babi.sweep(get_config, add, arg)
