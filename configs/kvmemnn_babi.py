"""KV-MemNN on bAbI (Miller et al. 2016), the "bow" reader of the TF code.

Defaults follow the widely used TensorFlow implementation's joint-1k setting
(github.com/siyuanzhao/key-value-memory-networks): batch 50, embedding 40,
feature size 50, 3 hops, L2 0.1, Adam at 0.001 with epsilon 0.1, gradients
clipped to norm 20, memory 50, 200 epochs, loss summed over the batch; key =
value = sentence, with learned temporal vectors added to keys and values as
that code does. Its README reports 20.45 % mean test error, 13 failed tasks.

That code's reader named "bow" weights each word by the position encoding
of the MemN2N authors' code before summing (`1 + 4 (k - (d+1)/2)
(j - (J+1)/2) / (d J)`), so the default here is
`model.encoding = 'position_centered'`; `--config.model.encoding=bow` gives a
plain bag of words. Its softmax covers every memory slot, the empty ones as
zero vectors (a fixed zero row for the nil word):
`--config.model.mask_empty_slots=False` does the same (the measured
15.6 %). The default masks them, so that a trained model gives the same
answers when evaluated with a larger memory.

Commands:
  python -m memax.main --config=configs/kvmemnn_babi.py:tasks=0 \
      --workdir=runs/kvmemnn_babi_joint            # joint, all 20 tasks, 1k
  python -m memax.main --config=configs/kvmemnn_babi.py:tasks=1 \
      --workdir=runs/kvmemnn_babi_qa1
  python -m memax.main --config=configs/kvmemnn_babi.py:tasks=0 \
      --config.model.memory_mode=window --workdir=runs/kvmemnn_babi_window
Measured results: experiments/babi/README.md.
"""

import ml_collections

from configs import babi


def model() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'kvmemnn'
  c.embedding_size = 40
  c.feature_size = 50
  c.num_hops = 3
  c.memory_mode = 'sentence'       # 'sentence' (key = value) or 'window'.
  c.window_size = 3                # odd; window mode only.
  c.encoding = 'position_centered' # the TF code's "bow"; or 'bow', 'position'.
  c.temporal_encoding = True       # as the TensorFlow code (its TK, TV).
  c.mask_empty_slots = True        # False: empty slots stay in the softmax
                                   # as zero keys and values (the TF code).
  c.init_std = 0.1
  return c


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: `tasks=<0 joint|1..20>,set=<en|en-10k>,runlocal` (default joint).

  `runlocal` alone trains task 1.
  """
  arg = babi.parse(arg, tasks=0)
  config = babi.get_config(model(), arg)
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 0.001
  config.optimizer.eps = 0.1
  config.optimizer.schedule = 'constant'
  config.optimizer.grad_clip_norm = 20.0
  config.optimizer.l2 = 0.1
  config.train.batch_size = 50
  config.train.num_epochs = 200
  config.train.eval_every_epochs = 10
  config.train.ckpt_every_epochs = 20
  return babi.runlocal(config) if arg.runlocal else config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: seeds 0-9 (`seeds=N`); `each_task`: tasks 1-20."""
  babi.sweep(get_config, add, arg)
