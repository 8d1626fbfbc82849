"""Where a trained model's priority-sort errors are.

The run's model is restored from a checkpoint and answers sequences of the
training distribution. Each output step is matched to the presented vector
nearest to it in Hamming distance (the one due wins a tie): the step is
right (exactly the vector due), the wrong vector (another presented vector
is strictly nearer, e.g. two items emitted in swapped order), or a blend
(the vector due is nearest but not matched exactly). Printed, as one JSON
object: bit errors per sequence and per output position, the fraction of
output steps of each kind, how far a wrong vector's rank is from the rank
due, and the fraction of wrong vectors by the priority gap between the item
due and its nearest neighbour in the ranking (the items ranked just above
and below it, the first dropped item included).

  python experiments/dnc/scripts/sort_errors.py \
      --workdir=$RUNS/dnc_priority_sort_mom/trials/000_seed=0
"""

import argparse
import json
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from memax import cli  # pylint: disable=g-import-not-at-top
from memax import evaluate  # pylint: disable=g-import-not-at-top
from memax.training import setup  # pylint: disable=g-import-not-at-top

GAP_EDGES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, np.inf)


def analyse(inputs: np.ndarray, predictions: np.ndarray, num_inputs: int,
            num_outputs: int) -> dict:
  """The errors of `predictions` on priority-sort `inputs`.

  Args:
    inputs: `[B, T, W + 2]` as `memax.tasks.priority_sort` lays them out
      (bits, priority, delimiter; the `N = num_inputs` items first).
    predictions: `[B, T, W]` bits (0/1 or booleans) the model emits; steps
      `N + 1 .. N + M` (`M = num_outputs`) are read.
    num_inputs: `N`.
    num_outputs: `M`.

  Returns:
    A dict of plain floats and lists (JSON-ready).
  """
  n, m = num_inputs, num_outputs
  width = predictions.shape[-1]
  bits = inputs[:, :n, :width] > 0.5                     # [B, N, W]
  priority = inputs[:, :n, width]                        # [B, N]
  pred = predictions[:, n + 1:n + 1 + m] > 0.5           # [B, M, W]
  order = np.argsort(-priority, axis=1, kind='stable')   # [B, N] by rank
  rank = np.argsort(order, axis=1)                       # [B, N]
  due = order[:, :m]                                     # [B, M]
  due_bits = np.take_along_axis(bits, due[..., None], axis=1)
  dist = (pred[:, :, None, :] != bits[:, None, :, :]).sum(-1)  # [B, M, N]
  dist_due = np.take_along_axis(dist, due[..., None], axis=2)[..., 0]
  nearest = np.argmin(dist, axis=2)
  nearest = np.where(dist_due <= dist.min(axis=2), due, nearest)
  errors = (pred != due_bits).sum(-1)                    # [B, M]
  right = errors == 0
  wrong = nearest != due
  blend = ~right & ~wrong
  # The gap between the item due and its neighbours in the ranking.
  sorted_p = np.take_along_axis(priority, order, axis=1)  # [B, N] decreasing
  step_gap = sorted_p[:, :-1] - sorted_p[:, 1:]          # [B, N-1]
  none = np.full((len(priority), 1), np.inf)
  above = np.concatenate([none, step_gap], axis=1)
  below = np.concatenate([step_gap, none], axis=1)
  gap = np.minimum(above, below)[:, :m]                  # [B, M]
  emitted_rank = np.take_along_axis(rank, nearest, axis=1)[wrong]
  shift = emitted_rank - np.broadcast_to(np.arange(m), wrong.shape)[wrong]
  by_gap = []
  for lo, hi in zip(GAP_EDGES[:-1], GAP_EDGES[1:]):
    sel = (gap >= lo) & (gap < hi)
    count = int(sel.sum())
    by_gap.append({
        'gap': [lo, None if np.isinf(hi) else hi], 'steps': count,
        'wrong_vector': round(float(wrong[sel].mean()), 4) if count else None,
        'bit_errors': round(float(errors[sel].mean()), 4) if count else None})
  abs_shift = np.abs(shift)
  return {
      'sequences': int(len(inputs)),
      'bit_errors_per_sequence': round(float(errors.sum(1).mean()), 4),
      'perfect_sequences': round(float(right.all(1).mean()), 4),
      'bit_errors_by_position': [round(float(x), 4)
                                 for x in errors.mean(0)],
      'steps_right': round(float(right.mean()), 4),
      'steps_wrong_vector': round(float(wrong.mean()), 4),
      'steps_blend': round(float(blend.mean()), 4),
      'bit_errors_on_wrong_vector': round(float(errors[wrong].sum()
                                                / max(errors.sum(), 1)), 4),
      'wrong_vector_rank_shift': {
          '1': int((abs_shift == 1).sum()),
          '2': int((abs_shift == 2).sum()),
          '>2': int((abs_shift > 2).sum()),
          'dropped_item': int((emitted_rank >= m).sum())},
      'by_gap': by_gap,
  }


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--workdir', required=True)
  p.add_argument('--step', type=int, default=None,
                 help='checkpoint step (default: the last)')
  p.add_argument('--sequences', type=int, default=2048)
  p.add_argument('--batch_size', type=int, default=256)
  p.add_argument('--seed', type=int, default=1)
  args = p.parse_args(argv)
  trained = cli.run_or_exit(evaluate.load_config, args.workdir)
  if trained.task.name != 'priority_sort':
    raise SystemExit(f'{args.workdir}: config.task.name is '
                     f'{trained.task.name!r}, expected \'priority_sort\'.')
  s = setup.setup(trained)
  task = s.task
  model = setup.build_model(trained, task)
  state, step = cli.run_or_exit(evaluate.load_params, trained, args.workdir,
                                args.step, task=task)

  @jax.jit
  def answer(rng):
    batch = task.sample(rng, args.batch_size)
    logits = model.apply(state.params, batch.inputs).logits
    return batch.inputs, logits > 0

  inputs, predictions = [], []
  keys = jax.random.split(jax.random.key(args.seed),
                          -(-args.sequences // args.batch_size))
  for k in keys:
    x, y = answer(k)
    inputs.append(np.asarray(x))
    predictions.append(np.asarray(y))
  inputs = np.concatenate(inputs)[:args.sequences]
  predictions = np.concatenate(predictions)[:args.sequences]
  out = analyse(inputs, predictions, task.num_inputs, task.num_outputs)
  print(json.dumps({'workdir': args.workdir, 'step': step,
                    'seed': args.seed, **out}))


if __name__ == '__main__':
  main()
