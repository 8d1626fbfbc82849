"""Skipping padded steps: the cost of `SequenceModel`'s `num_steps`.

`--part=grad`: the gradient of an LSTM sequence model (`--hidden` units,
`--vocab` one-hot inputs and outputs, batch `--batch`, `--length` steps of
random inputs) computing every step, skipping all but `--active` steps
(`num_steps`), and over the first `--active` steps alone (a static length):
median seconds of `--repeats` calls after one warm-up.

`--part=chunks`: whole train chunks (`train.steps_per_call` steps: sample,
forward, backward, update) of `configs/dnc_babi_words.py:set=en` (`--model
dnc`, DNC1) or of an LSTM of 256 with its task and optimiser (`--model
lstm`), at `--batch`, for each of `--variants` (`skip`: the model skips
padded steps; `bN`: `train.length_buckets=N`; `+remat`: `model.remat`),
the variants' calls alternating; the stories differ per call, so medians
over few calls are rough. Needs `MEMAX_BABI_DIR`.

Output: one JSON object per line.

  python benchmarks/skipping.py --part=grad
  python benchmarks/skipping.py --part=chunks --model=lstm --batch=16 \
      --steps_per_call=5 --repeats=4 --variants=skip,b10,b10+remat
"""

import argparse
import json
import os
import statistics
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

import flax.linen as nn  # pylint: disable=g-import-not-at-top
import jax
import jax.numpy as jnp

from memax.models.sequence import SequenceModel


def _median_s(fn, *args, repeats):
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t)
  return statistics.median(times)


def grad_part(args):
  model = SequenceModel(cell=nn.OptimizedLSTMCell(args.hidden),
                        output_size=args.vocab)
  x = jax.random.normal(jax.random.key(0),
                        (args.batch, args.length, args.vocab))
  params = jax.jit(model.init)(jax.random.key(1), x)

  def loss(p, x, n=None):
    return jnp.sum(model.apply(p, x, num_steps=n).logits ** 2)

  grad = jax.jit(jax.grad(loss))  # all steps, or skipping (with `n`).
  static = jax.jit(jax.grad(lambda p, x: loss(p, x[:, :args.active])))
  n = jnp.int32(args.active)
  return [{'part': 'grad', 'hidden': args.hidden, 'batch': args.batch,
           'length': args.length, 'active': args.active,
           'full_s': _median_s(grad, params, x, repeats=args.repeats),
           'skip_s': _median_s(grad, params, x, n, repeats=args.repeats),
           'static_s': _median_s(static, params, x, repeats=args.repeats)}]


def chunks_part(args):
  from benchmarks import dnc as dnc_bench  # pylint: disable=g-import-not-at-top
  from configs import dnc_babi_words  # pylint: disable=g-import-not-at-top
  from memax.training import setup as setup_lib  # pylint: disable=g-import-not-at-top

  def make(variant):
    dnc, lstm = dnc_bench._beside_an_lstm(  # pylint: disable=protected-access
        dnc_babi_words.get_config('set=en'), 'babi_words', args.batch,
        same_task=True)
    config = dnc if args.model == 'dnc' else lstm
    config.train.steps_per_call = args.steps_per_call
    config.model.remat = variant.endswith('+remat')
    base = variant.split('+')[0]
    config.train.length_buckets = 0 if base == 'skip' else int(base[1:])
    s = setup_lib.setup(config)
    state = s.init_state()
    key, data = s.chunk_inputs()
    t = time.perf_counter()
    chunk = s.chunk().lower(state, key, data).compile()
    return {'chunk': chunk, 'state': state, 'key': key, 'data': data,
            'compile_s': time.perf_counter() - t, 'times': []}

  variants = args.variants.split(',')
  runs = {v: make(v) for v in variants}
  for r in range(args.repeats + 1):  # call 0 warms up.
    for v in (variants if r % 2 else variants[::-1]):
      run = runs[v]
      t = time.perf_counter()
      run['state'], metrics, _ = run['chunk'](run['state'], run['key'],
                                              run['data'])
      jax.block_until_ready(metrics)
      if r:
        run['times'].append((time.perf_counter() - t) / args.steps_per_call)
  return [{'part': 'chunks', 'model': args.model, 'batch': args.batch,
           'variant': v, 's_per_step': statistics.median(run['times']),
           'compile_s': run['compile_s'], 'calls': args.repeats,
           'steps_per_call': args.steps_per_call}
          for v, run in runs.items()]


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--part', choices=('grad', 'chunks'), default='grad')
  p.add_argument('--hidden', type=int, default=256)
  p.add_argument('--vocab', type=int, default=159)
  p.add_argument('--batch', type=int, default=2)
  p.add_argument('--length', type=int, default=1378)
  p.add_argument('--active', type=int, default=80)
  p.add_argument('--repeats', type=int, default=3)
  p.add_argument('--model', choices=('lstm', 'dnc'), default='lstm')
  p.add_argument('--steps_per_call', type=int, default=5)
  p.add_argument('--variants', default='skip,b10')
  args = p.parse_args()
  records = grad_part(args) if args.part == 'grad' else chunks_part(args)
  for record in records:
    print(json.dumps(record), flush=True)


if __name__ == '__main__':
  main()
