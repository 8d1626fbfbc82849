"""A population of K seeds in one process against K runs one after another.

For each config, the single run's jitted chunk (`steps` train steps) and the
population's (`config.population.seeds=0:K`, one compiled `jit(vmap(...))`)
are built through `memax.training.setup.setup`, compiled, warmed up, and
timed in alternation within the same repeat loop. K sequential runs cost K
times the single run's time (the same compiled program serves every seed),
so the throughput ratio is `K * single / population` per step; above 1 the
population is faster. Compile times and XLA's memory analysis (arguments +
temporaries of the compiled chunk) are reported for both.

  python benchmarks/population.py                        # NTM copy, MemN2N joint
  python benchmarks/population.py --configs=ntm_copy --members=16 --repeats=5
  python benchmarks/population.py --configs=memn2n_joint --vmap_sizes=0,1,4
  python benchmarks/population.py --configs=dnc_copy --members=3 --steps=10
  python benchmarks/population.py --configs=dnc_repeat_copy_ntm --members=3 \
      --steps=10 --vmap_sizes=0,1
  python benchmarks/population.py --configs=ntm_copy --num_devices=2
      # also the population split over 2 (CPU) devices on its member axis

Output: one JSON object per line (`--out FILE` also writes them).
"""

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

import jax  # pylint: disable=g-import-not-at-top

from benchmarks import run as bench_run  # pylint: disable=g-import-not-at-top
from configs import dnc_copy  # pylint: disable=g-import-not-at-top
from configs import dnc_repeat_copy  # pylint: disable=g-import-not-at-top
from configs import mann_omniglot  # pylint: disable=g-import-not-at-top
from configs import memn2n_babi  # pylint: disable=g-import-not-at-top
from configs import ntm_copy  # pylint: disable=g-import-not-at-top
from memax import overrides  # pylint: disable=g-import-not-at-top
from memax.training import setup  # pylint: disable=g-import-not-at-top


def _config(name: str, steps: int):
  """The config of `name`, counting `steps` steps per jitted call."""
  if name == 'ntm_copy':
    config = ntm_copy.get_config()
  elif name == 'dnc_copy':
    config = dnc_copy.get_config()
  elif name == 'dnc_repeat_copy_ntm':
    # The NTM paper's sizes with momentum: the dnc_repeat_copy_ntm_mom study.
    config = overrides.apply(dnc_repeat_copy.get_config('setting=ntm'),
                             {'optimizer.momentum': 0.9})
  elif name == 'mann_omniglot':
    config = mann_omniglot.get_config()
  elif name == 'memn2n_joint':
    config = memn2n_babi.get_config('tasks=0')
    # Steps, not epochs: a population's epoch call would take minutes.
    config = overrides.apply(config, {'train.num_epochs': 0,
                                      'train.linear_start_epochs': 0})
  else:
    raise ValueError(f'Unknown config {name!r}; expected ntm_copy, '
                     'dnc_copy, dnc_repeat_copy_ntm, mann_omniglot or '
                     'memn2n_joint.')
  return overrides.apply(config, {
      'train.steps_per_call': steps, 'train.num_steps': steps,
      'train.log_every': steps, 'train.eval_every': steps,
      'train.ckpt_every': steps})


class _Timed:
  """One compiled chunk and its donated state."""

  def __init__(self, config):
    t = time.perf_counter()
    self.s = setup.setup(config)
    state = self.s.init_state()
    self.key, self.data = self.s.chunk_inputs()
    compiled = self.s.chunk().lower(state, self.key, self.data).compile()
    self.compile_s = time.perf_counter() - t
    mem = compiled.memory_analysis()
    self.memory_mb = None if mem is None else (
        mem.argument_size_in_bytes + mem.temp_size_in_bytes) / 2**20
    self.compiled, self.state = compiled, state
    self.call()
    self.seconds = []

  def call(self) -> float:
    t = time.perf_counter()
    self.state, metrics, _ = self.compiled(self.state, self.key, self.data)
    jax.block_until_ready((self.state, metrics))
    return time.perf_counter() - t


def measure(name: str, members: int, steps: int, repeats: int,
            vmap_sizes: tuple[int, ...] = (0,), num_devices: int = 1
            ) -> list[dict[str, Any]]:
  """One record per `population.vmap_size` (0: all members in one vmap),
  and with `num_devices` > 1 one more: all members in one vmap, split over
  that many devices on the member axis."""
  config = _config(name, steps)
  single = _Timed(config)
  variants = [(size, 1) for size in vmap_sizes]
  if num_devices > 1:
    variants.append((0, num_devices))
  pops = [_Timed(overrides.apply(config, {
      'population.seeds': f'0:{members}', 'population.vmap_size': size,
      'train.num_devices': devices})) for size, devices in variants]
  for _ in range(repeats):
    single.seconds.append(single.call())
    for pop in pops:
      pop.seconds.append(pop.call())
  one = statistics.median(single.seconds) / steps
  batch = config.train.batch_size
  records = []
  for (size, devices), pop in zip(variants, pops):
    many = statistics.median(pop.seconds) / steps
    records.append({
        'kind': 'population', 'config': name, 'members': members,
        'vmap_size': size, 'num_devices': devices,
        'steps_per_call': steps, 'repeats': repeats, 'batch_size': batch,
        'single_ms_per_step': 1e3 * one,
        'population_ms_per_step': 1e3 * many,
        'sequential_ms_per_step': 1e3 * one * members,
        'throughput_ratio': members * one / many,
        'single_examples_per_s': batch / one,
        'population_examples_per_s': members * batch / many,
        'single_compile_s': single.compile_s,
        'population_compile_s': pop.compile_s,
        'single_memory_mb': single.memory_mb,
        'population_memory_mb': pop.memory_mb,
        'single_all_s': single.seconds, 'population_all_s': pop.seconds,
        'loadavg_1m': os.getloadavg()[0],
    })
  return records


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--configs', default='ntm_copy,memn2n_joint')
  p.add_argument('--members', type=int, default=16)
  p.add_argument('--steps', type=int, default=50)
  p.add_argument('--repeats', type=int, default=5)
  p.add_argument('--vmap_sizes', default='0',
                 help='population.vmap_size values, timed in one loop '
                 '(0: all members in one vmap; k: k at a time)')
  p.add_argument('--num_devices', type=int, default=1,
                 help='> 1: also time the population split over this many '
                 'devices (CPU host devices here) on its member axis')
  p.add_argument('--out', default='')
  args = p.parse_args(argv)
  if args.num_devices > 1:
    from memax.training import sharding  # pylint: disable=g-import-not-at-top
    sharding.use_cpu_devices(args.num_devices)
  sizes = tuple(int(v) for v in args.vmap_sizes.split(',') if v)
  records = []
  for name in [c for c in args.configs.split(',') if c]:
    for record in measure(name, args.members, args.steps, args.repeats,
                          sizes, args.num_devices):
      print(json.dumps(record), flush=True)
      records.append(record)
  if args.out:
    with open(args.out, 'w') as f:
      json.dump({'environment': bench_run.environment(),
                 'command': ' '.join(sys.argv), 'records': records}, f,
                indent=1)


if __name__ == '__main__':
  main()
