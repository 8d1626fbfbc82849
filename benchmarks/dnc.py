"""DNC benchmarks: the train step beside an LSTM, and the link's cost in N.

`--part=step`: the DNC train step (sample, forward, backward, update, as the
training loop runs it: a jitted `lax.scan` of `--steps_per_call` steps) and
an LSTM of the same controller size (one layer), timed in alternation in
the same process, on copy (lengths 1-20) with `configs/dnc_copy.py`'s
sizes (LSTM 100, memory 128 x 20, 4 read heads).

`--part=babi`: the DNC1 train step of `configs/dnc_babi_words.py` (LSTM
256, memory 256 x 64, 4 read heads) on word-level bAbI, all 20 tasks
(`--babi_set`, the data from `MEMAX_BABI_DIR`), beside an LSTM of 256 units
with the same batches, timed in alternation; each call trains on other
stories (pools sorted by length), so the median is over batches of every
length. Each record adds the hours the config's `train.num_steps` would
take at that median (`projected_hours`).

`--part=memory`: one forward and backward pass of the DNC (LSTM 64, word
16, 4 read heads) over `--length` steps of random inputs at batch 1, for
memory sizes N, with the dense link and the sparse link (K = 8): median ms
per pass, and XLA's temporary memory of the compiled pass
(`memory_analysis().temp_size_in_bytes`). The dense link stores `T` arrays
of `N x N`; the sparse one `T` arrays of `N x K`.

Output: one JSON object per line on stdout; `--out FILE` also writes them.

  python benchmarks/dnc.py --part=step
  python benchmarks/dnc.py --part=babi --batch_sizes=16 --repeats=10
  python benchmarks/dnc.py --part=memory --sizes=64,256,1024,4096,16384
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
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
import ml_collections  # pylint: disable=g-import-not-at-top

from benchmarks import run  # pylint: disable=g-import-not-at-top
from configs import dnc_babi_words  # pylint: disable=g-import-not-at-top
from configs import dnc_copy  # pylint: disable=g-import-not-at-top
from configs import train as train_config  # pylint: disable=g-import-not-at-top
from memax.cells.dnc import DNCCell  # pylint: disable=g-import-not-at-top
from memax.models import SequenceModel  # pylint: disable=g-import-not-at-top
from memax.training import setup as setup_lib  # pylint: disable=g-import-not-at-top


class _Chunk:
  """A compiled train chunk of one config, timed call by call."""

  def __init__(self, name: str, config, steps_per_call: int):
    config.train.steps_per_call = steps_per_call
    self.name, self.config = name, config
    self.setup = setup_lib.setup(config)
    self.state = self.setup.init_state()
    self.key, self.data = self.setup.chunk_inputs()
    t = time.perf_counter()
    self.chunk = self.setup.chunk().lower(self.state, self.key,
                                          self.data).compile()
    self.compile_s = time.perf_counter() - t
    self.times = []
    self.call(record=False)  # warm-up

  def call(self, record: bool = True) -> None:
    t = time.perf_counter()
    self.state, metrics, _ = self.chunk(self.state, self.key, self.data)
    jax.block_until_ready(metrics)
    if record:
      self.times.append((time.perf_counter() - t)
                        / self.config.train.steps_per_call)

  def record(self) -> dict[str, Any]:
    ms = 1e3 * statistics.median(self.times)
    batch = self.config.train.batch_size
    return {'kind': 'step', 'model': self.name,
            'task': self.config.task.name, 'batch_size': batch,
            'ms_per_step': ms, 'sequences_per_s': batch * 1e3 / ms,
            'repeats': len(self.times), 'compile_s': self.compile_s,
            'steps_per_call': self.config.train.steps_per_call,
            'projected_hours': ms * self.config.train.num_steps / 3.6e6,
            'num_steps': self.config.train.num_steps}


def _beside_an_lstm(dnc, task: str, batch: int, *, same_task: bool):
  """(dnc, lstm): an LSTM config of the DNC's controller size (one layer)
  and optimizer; `same_task`: also the DNC's task, training and evaluation
  fields
  (else the LSTM config's own, as the copy measurements always had)."""
  dnc.train.batch_size = batch
  lstm = train_config.get_config(f'model=lstm,task={task}')
  lstm.model.hidden_size = dnc.model.controller_size
  lstm.model.num_layers = 1
  if same_task:
    lstm.task = ml_collections.ConfigDict(dnc.task.to_dict())
    lstm.train = ml_collections.ConfigDict(dnc.train.to_dict())
    lstm.evals = ml_collections.ConfigDict(dnc.evals.to_dict())
  lstm.train.batch_size = batch
  lstm.optimizer = dnc.optimizer
  return dnc, lstm


def step_part(batch_sizes, repeats: int, steps_per_call: int,
              babi_set: str = ''):
  """The DNC beside the LSTM: on copy, or on word-level bAbI (`babi_set`)."""
  records = []
  for batch in batch_sizes:
    if babi_set:
      dnc, lstm = _beside_an_lstm(
          dnc_babi_words.get_config(f'set={babi_set}'), 'babi_words', batch,
          same_task=True)
    else:
      dnc, lstm = _beside_an_lstm(dnc_copy.get_config(), 'copy', batch,
                                  same_task=False)
    chunks = [_Chunk('dnc', dnc, steps_per_call),
              _Chunk('lstm', lstm, steps_per_call)]
    for r in range(repeats):
      for c in chunks[r % 2:] + chunks[:r % 2]:
        c.call()
    recs = [c.record() for c in chunks]
    recs.append({'kind': 'ratio', 'task': dnc.task.name, 'batch_size': batch,
                 'dnc_over_lstm': recs[0]['ms_per_step']
                                  / recs[1]['ms_per_step']})
    for rec in recs:
      print(json.dumps(rec), flush=True)
    records += recs
  return records


def memory_part(sizes, sparsities, length: int, repeats: int):
  records = []
  for n in sizes:
    for k in sparsities:
      cell = DNCCell(controller_size=64, memory_size=n, word_size=16,
                     num_read_heads=4, link_sparsity=k)
      model = SequenceModel(cell=cell, output_size=8)
      x = jax.random.normal(jax.random.key(0), (1, length, 8))
      params = model.init(jax.random.key(1), x)

      def loss(p, x):
        return jnp.mean(model.apply(p, x).logits ** 2)

      fn = jax.jit(jax.value_and_grad(loss))
      t = time.perf_counter()
      compiled = fn.lower(params, x).compile()
      compile_s = time.perf_counter() - t
      jax.block_until_ready(compiled(params, x))
      times = []
      for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(compiled(params, x))
        times.append(time.perf_counter() - t)
      mem = compiled.memory_analysis()
      rec = {'kind': 'memory', 'memory_size': n, 'link_sparsity': k,
             'length': length, 'ms_per_pass': 1e3 * statistics.median(times),
             'temp_mib': (mem.temp_size_in_bytes / 2**20
                          if mem is not None else None),
             'compile_s': compile_s, 'repeats': repeats}
      print(json.dumps(rec), flush=True)
      records.append(rec)
  return records


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--part', choices=('step', 'babi', 'memory'),
                 default='step')
  p.add_argument('--babi_set', default='en-10k', choices=('en', 'en-10k'))
  p.add_argument('--batch_sizes', default='1,16')
  p.add_argument('--steps_per_call', type=int, default=20)
  p.add_argument('--sizes', default='64,256,1024,4096,16384')
  p.add_argument('--dense_max', type=int, default=4096,
                 help='largest N measured with the dense link')
  p.add_argument('--length', type=int, default=10)
  p.add_argument('--repeats', type=int, default=5)
  p.add_argument('--out', default='')
  args = p.parse_args(argv)
  if args.part in ('step', 'babi'):
    records = step_part([int(b) for b in args.batch_sizes.split(',')],
                        args.repeats, args.steps_per_call,
                        args.babi_set if args.part == 'babi' else '')
  else:
    records = []
    for n in [int(s) for s in args.sizes.split(',')]:
      records += memory_part([n], [0, 8] if n <= args.dense_max else [8],
                             args.length, args.repeats)
  if args.out:
    run.write_results(args.out, args, records)
  return records


if __name__ == '__main__':
  main()
