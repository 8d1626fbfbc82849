"""DAM benchmarks: the train step beside the DNC and an LSTM, and K blocks.

`--part=step`: the train step (sample, forward, backward, update, as the
training loop runs it: a jitted `lax.scan` of `--steps_per_call` steps) of
DAM with the config's K, the DNC of the same config (`model=dnc`: one
block's memory, with link) and an LSTM of the same controller size (one
layer), on a DAM config (`--config`, default `dam_copy`: LSTM 128, blocks
of 64 x 36, one read head; the memory refreshing loss on for all three),
timed in alternation in the same process.

`--part=blocks`: the DAM train step with K = 1, 2, 4, 8 blocks at the same
total memory (`--total_slots` split into K blocks of `total / K` slots),
timed in alternation.

`--part=cost`: what each `--recipe` (a config module with its argument,
e.g. `dam_nth_farthest:cpu`; repeat the flag) costs here: its own train step at
its own batch size and sizes, and the hours its `num_steps` take at that
speed (`projected_hours`), for deciding what this machine can run.

Output: one JSON object per line on stdout; `--out FILE` also writes them.

  python benchmarks/dam.py --part=step
  python benchmarks/dam.py --part=blocks --total_slots=128
  python benchmarks/dam.py --part=cost --recipe=dam_nth_farthest:cpu \
      --recipe=dam_convex_hull --steps_per_call=2 --repeats=3
"""

import argparse
import importlib
import json
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

from benchmarks import dnc as dnc_bench  # pylint: disable=g-import-not-at-top


def _alternate(chunks, repeats: int) -> list[dict]:
  """Calls the chunks in rotating order `repeats` times; their records."""
  for r in range(repeats):
    k = r % len(chunks)
    for c in chunks[k:] + chunks[:k]:
      c.call()
  return [c.record() for c in chunks]


def step_part(config_name: str, batch: int, repeats: int,
              steps_per_call: int) -> list[dict]:
  module = importlib.import_module(f'configs.{config_name}')
  dam, lstm = dnc_bench._beside_an_lstm(  # pylint: disable=protected-access
      module.get_config(), module.get_config().task.name, batch,
      same_task=True)
  dnc = module.get_config('model=dnc')
  dnc.train.batch_size = batch
  chunks = [dnc_bench._Chunk(name, config, steps_per_call)  # pylint: disable=protected-access
            for name, config in (('dam', dam), ('dnc', dnc), ('lstm', lstm))]
  records = _alternate(chunks, repeats)
  ms = {r['model']: r['ms_per_step'] for r in records}
  records.append({'kind': 'ratio', 'config': config_name,
                  'batch_size': batch,
                  'num_blocks': dam.model.num_blocks,
                  'dam_over_lstm': ms['dam'] / ms['lstm'],
                  'dnc_over_lstm': ms['dnc'] / ms['lstm'],
                  'dam_over_dnc': ms['dam'] / ms['dnc']})
  return records


def blocks_part(config_name: str, batch: int, blocks, total: int,
                repeats: int, steps_per_call: int) -> list[dict]:
  module = importlib.import_module(f'configs.{config_name}')
  chunks = []
  for k in blocks:
    config = module.get_config()
    config.model.num_blocks = k
    config.model.memory_size = total // k
    config.train.batch_size = batch
    chunks.append(dnc_bench._Chunk(f'dam_k{k}', config, steps_per_call))  # pylint: disable=protected-access
  records = _alternate(chunks, repeats)
  for k, r in zip(blocks, records):
    r.update(num_blocks=k, memory_size=total // k, total_slots=total)
  return records


def cost_part(recipes, repeats: int, steps_per_call: int) -> list[dict]:
  records = []
  for recipe in recipes:
    name, _, arg = recipe.partition(':')
    module = importlib.import_module(f'configs.{name}')
    config = module.get_config(arg) if arg else module.get_config()
    chunk = dnc_bench._Chunk(recipe, config, steps_per_call)  # pylint: disable=protected-access
    for _ in range(repeats):
      chunk.call()
    records.append(dict(chunk.record(), kind='cost', recipe=recipe,
                        model=config.model.name))
    del chunk
  return records


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--part', choices=('step', 'blocks', 'cost'),
                 default='step')
  p.add_argument('--recipe', action='append', default=[],
                 help='--part=cost: a config module[:arg] (repeat the flag; '
                 'default dam_nth_farthest:cpu and dam_convex_hull)')
  p.add_argument('--config', default='dam_copy',
                 help='a DAM config module in configs/ (dam_copy, ...)')
  p.add_argument('--batch_size', type=int, default=16)
  p.add_argument('--blocks', default='1,2,4,8')
  p.add_argument('--total_slots', type=int, default=128)
  p.add_argument('--steps_per_call', type=int, default=20)
  p.add_argument('--repeats', type=int, default=5)
  p.add_argument('--out', default='')
  args = p.parse_args(argv)
  if args.part == 'step':
    records = step_part(args.config, args.batch_size, args.repeats,
                        args.steps_per_call)
  elif args.part == 'cost':
    records = cost_part(args.recipe or ['dam_nth_farthest:cpu',
                                        'dam_convex_hull'],
                        args.repeats, args.steps_per_call)
  else:
    records = blocks_part(args.config, args.batch_size,
                          [int(k) for k in args.blocks.split(',')],
                          args.total_slots, args.repeats, args.steps_per_call)
  for rec in records:
    print(json.dumps(rec), flush=True)
  if args.out:
    with open(args.out, 'w') as f:
      for rec in records:
        f.write(json.dumps(rec) + '\n')


if __name__ == '__main__':
  main()
