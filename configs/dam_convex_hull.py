"""DAM on convex hull, taewonpark/DAM's run_convexhull.py command.

The Pointer Networks task in the code's recurrent encoding
(`memax.tasks.convex_hull`): 5-20 points in training, generated with exact
hulls (the code reads the 5-50 file's examples of up to 20 points;
`--config.task.train_file=...` does too; the code's batches hold one n
each, memax's any mix), evaluated at 5 and 10 points;
K = 6 blocks of 20 x 64, 4 read heads, an LSTM of 256, an output MLP of
2 ReLU layers of 256; batches of 128, RMSProp 1e-4 (momentum 0.9),
300,000 iterations; the memory refreshing loss at p_re = 0.3 on the point
steps (squared error through 23 extra outputs). `model=dam1|dnc`,
`p_re=P`: the comparison of configs/dam.py.

`cpu`: the CPU-sized variant. The command's train step took 2.8 s here
(batches of 128 with up to 20 points; `benchmarks/dam.py --part=cost`,
beside two trainings), so its 300,000 iterations would take about 230
hours; `cpu` keeps the model's sizes, the memory, the MLP, the optimiser
and the evaluations at 5 and 10 points, and trains on 5-10 points
(sequences about half as long) in batches of 32 for 50,000 iterations.
The encoding is sized by `task.max_points` (P, `memax.tasks.convex_hull`),
so with P = 10 the model takes 13 inputs and answers over 11 classes
instead of the command's 23 and 21: a `cpu` checkpoint does not run at
20 points.

Command:
  python -m memax.main --config=configs/dam_convex_hull.py:cpu \
      --workdir=runs/dam_hull
"""

import ml_collections

from configs import dam
from configs import train

P_RE = 0.3


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: `model=dam|dam1|dnc`, `p_re=P`, `cpu`, `runlocal`, `seeds=N`."""
  config, arg = dam.get_config(
      'convex_hull', arg, p_re=P_RE, num_blocks=6, controller_size=256,
      memory_size=20, word_size=64, num_read_heads=4, batch_size=128,
      learning_rate=1e-4, num_steps=300_000, readout_layers=(256, 256),
      cpu=False)
  config.task.update(min_points=5, max_points=20, eval_points=(5, 10))
  if arg.cpu:
    config.task.max_points = 10
    config.train.batch_size = 32
    config.train.num_steps = 50_000
  return train.runlocal(config) if arg.runlocal else config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: p_re in {0, 0.3} x seeds 0..N-1 (3)."""
  dam.sweep(add, arg, P_RE)
