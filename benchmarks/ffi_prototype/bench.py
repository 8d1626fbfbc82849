"""NTM copy train step with the C++ memory step, beside memax's NTM and LSTM.

Five train steps of copy (the paper's sizes; `--setting` as in
`benchmarks/run.py`), compiled first, then timed in alternation as in `benchmarks/run.py` (calls of 50
steps; median ms per step). `ntm_free_memory` replaces addressing, write and
read by near-free stand-ins: a lower bound for any memory kernel. Prints one
JSON line per variant.

  .venv/bin/python benchmarks/ffi_prototype/bench.py --batch_size=1
  .venv/bin/python benchmarks/ffi_prototype/bench.py --batch_size=32 --setting=tuned --repeats=15
"""

import argparse
import json
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(os.path.dirname(_HERE)),
                os.path.dirname(_HERE), _HERE]

import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

from memax import ops  # pylint: disable=g-import-not-at-top
from memax.cells import ntm as ntm_lib  # pylint: disable=g-import-not-at-top
import ntm_ffi  # pylint: disable=g-import-not-at-top
import run  # pylint: disable=g-import-not-at-top  (benchmarks/run.py)


def cpp_call(self, carry, x):
  """`NTMCell.__call__` for 1 + 1 heads with the C++ memory step."""
  controller_state, h, raw = self.controller_step(carry, x)
  read_size = self._read_size()
  rp = self._split_heads(raw[..., :read_size], 1, write=False)
  wp = self._split_heads(raw[..., read_size:], 1, write=True)
  memory, ww, rw, rv = ntm_ffi.ntm_step(
      carry.memory, carry.write_weights[:, 0], carry.read_weights[:, 0],
      wp.key[:, 0], wp.strength[:, 0], wp.gate[:, 0], wp.shift[:, 0],
      wp.gamma[:, 0], wp.erase[:, 0], wp.add[:, 0], rp.key[:, 0],
      rp.strength[:, 0], rp.gate[:, 0], rp.shift[:, 0], rp.gamma[:, 0])
  carry = ntm_lib.NTMState(controller_state, memory, rw[:, None],
                           ww[:, None], rv[:, None])
  return carry, (jnp.concatenate([h, rv], axis=-1), {})


def cpp_raw_call(self, carry, x):
  """The same with the interface activations inside the kernels too."""
  controller_state, h, raw = self.controller_step(carry, x)
  memory, ww, rw, rv = ntm_ffi.ntm_step_raw(
      carry.memory, carry.write_weights[:, 0], carry.read_weights[:, 0], raw)
  carry = ntm_lib.NTMState(controller_state, memory, rw[:, None],
                           ww[:, None], rv[:, None])
  return carry, (jnp.concatenate([h, rv], axis=-1), {})


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument('--batch_size', type=int, default=1)
  p.add_argument('--repeats', type=int, default=9)
  p.add_argument('--steps_per_call', type=int, default=50)
  p.add_argument('--setting', default='default', choices=run.SETTINGS,
                 help="benchmarks/run.py's settings ('tuned': buckets, "
                 'and for the NTM remat and two devices)')
  p.add_argument('--overrides', default='',
                 help='JSON {"a.b": value} (memax.overrides.apply) used as '
                 "the tuned setting's overrides for every model instead")
  args = p.parse_args()
  if args.overrides:
    overrides = json.loads(args.overrides)
    run.tuned_overrides = lambda *unused: dict(overrides)
    args.setting = 'tuned'
  if args.setting == 'tuned':
    run.sharding.use_cpu_devices(run.TUNED_DEVICES)
  bench = lambda model: run._Bench(  # pylint: disable=protected-access
      model, 'copy', args.batch_size, steps_per_call=args.steps_per_call,
      setting=args.setting)
  variants = [('ntm', bench('ntm')), ('lstm', bench('lstm'))]
  original = ntm_lib.NTMCell.__call__
  ntm_lib.NTMCell.__call__ = cpp_call
  variants.append(('ntm_cpp_step', bench('ntm')))
  ntm_lib.NTMCell.__call__ = cpp_raw_call
  variants.append(('ntm_cpp_step_and_activations', bench('ntm')))
  ntm_lib.NTMCell.__call__ = original
  saved = (ntm_lib.NTMCell._address, ops.multi_write, ops.read)
  ntm_lib.NTMCell._address = lambda self, m, prev, p: prev * p.strength[..., None]
  ops.multi_write = lambda m, w, e, a: m
  ops.read = lambda m, w: m[0] * w[0]
  variants.append(('ntm_free_memory', bench('ntm')))
  ntm_lib.NTMCell._address, ops.multi_write, ops.read = saved
  for r in range(args.repeats):
    k = r % len(variants)
    for _, b in variants[k:] + variants[:k]:
      b.timed_call()
  records = {name: b.record() for name, b in variants}
  lstm_ms = records['lstm']['ms_per_step']
  for name, rec in records.items():
    print(json.dumps({
        'variant': name, 'batch_size': args.batch_size,
        'setting': args.setting,
        'mean_sequences_per_s': round(rec['mean_sequences_per_s'], 1),
        'ms_per_step': round(rec['ms_per_step'], 3),
        'sequences_per_s': round(rec['sequences_per_s'], 1),
        'over_lstm': round(rec['ms_per_step'] / lstm_ms, 2),
        'compile_s': round(rec['compile_s'], 1),
        'loadavg_1m': rec['loadavg_1m']}), flush=True)


if __name__ == '__main__':
  main()
