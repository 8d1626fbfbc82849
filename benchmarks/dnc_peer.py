"""DNC training throughput beside a PyTorch peer, on ixaxaar/pytorch-dnc's copy.

The peer is ixaxaar/pytorch-dnc (`tasks/copy_task.py` with its defaults: a
`dnc.DNC` of one layer whose controller is a 2-layer `torch.nn.LSTM` of 64
units, memory 16 x 20, 4 read heads, `independent_linears=True`, output
clip 20; input 6 = 5 bits and an end marker; one length per batch drawn
from 1..`sequence_max_length`; mean binary cross-entropy with logits over
every step and channel; Adam 1e-4, betas (0.9, 0.98), eps 1e-9; global-norm
clip 50), checked out outside this repository (it is never part of memax)
and run by its own Python with torch in a subprocess. Each configuration
sets the batch (32), the memory cells (16, 64, 256) and the lengths: 1-4
(the script's default) or 20 (every batch of length 20). The subprocess
times its training step, which is the script's loop body calling the
peer's own code: `optimizer.zero_grad()`, a length by `np.random.randint`,
`copy_task.generate_data`, the forward `rnn(x, (None, None, None),
reset_experience=True, pass_through_memory=True)`, `copy_task.criterion`,
`backward()`, `clip_grad_norm_(..., 50)`, `optimizer.step()`,
`loss.item()` and the detach of the memory state.

Harness shims (the peer's files are not edited):
- `visdom` (plots only) is replaced by an empty module before
  `copy_task` is imported, so it need not be installed.
- At its HEAD the forward returns time-major outputs `[T, B, 6]`
  (`batch_first=True` transposes the input but not the output) against a
  batch-major target `[B, T, 6]`, and `criterion` raises; the target is
  permuted to time-major (as its tests do) before `criterion`.
- The memory state it returns is a list with one dict per layer, and the
  script's `mhx.items()` raises; each layer's dict is detached.
- torch is given `--peer_threads` threads (`torch.set_num_threads`; a
  list runs one peer process per count, each timed in the same rotation);
  each record has `torch.get_num_threads()`. The default is 1, the peer's
  fastest on a loaded 2-core machine: with 2 threads and other processes
  running, its OpenMP threads wait on each other (16 cells, lengths 1-4,
  load 7.7: 3.9 s a step with 2 threads, 0.11 s with 1;
  `--peer_threads=1,2` measures both).

memax trains `dnc` on `copy` through `benchmarks/run.py`'s `_Bench` (the
training setup's compiled chunk of `--memax_steps` steps: on-device
sampling, forward, masked loss, backward, update) with the same sizes:
controller LSTM 64 x 2 layers, memory N x 20, 4 read heads, softplus
strengths (as the peer), controller clip 20, 5 bits, batch 32, Adam 1e-4
(eps 1e-9) after a global-norm clip of 50. At lengths 1-4 it runs twice:
`padded` (its default: a length per sequence, every batch padded to 9
steps) and `per_batch` (one length per batch, as the peer, each batch
computed to the end of its length, `task.length_per_batch` with 4
`train.length_buckets`). Differences that stay: memax's Adam has
b2 = 0.999 (the peer 0.98); its deep LSTM feeds every layer `[x; r; h^(l-1)]`
and reads out all layers (the Methods' controller), the peer's is a plain
2-layer `nn.LSTM` whose input gets zeros for the read vectors at every step
(its forward builds the inputs before the loop) and whose output is the top
layer; memax's loss is masked to the output steps and has 5 targets, the
peer's 6 over every step; the peer computes the interface with 10 linears,
memax with one.

For each configuration both sides are built and warmed up, then timed in
alternation (`--repeats` rounds, the order rotated each round), so machine
load affects both; the medians of the per-step times give sequences/s and
the ratio memax/peer.

  git --git-dir=<mirror of ixaxaar/pytorch-dnc> archive HEAD | \\
      tar -x -C /tmp/dnc_peer
  python3.11 -m venv /tmp/peer/venv
  /tmp/peer/venv/bin/pip install torch \\
      --index-url https://download.pytorch.org/whl/cpu
  /tmp/peer/venv/bin/pip install numpy
  PYTHONPATH=. python benchmarks/dnc_peer.py --repeats=5

Output: one JSON object per line (kind memax, peer, ratio).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

# The protocol half of a worker script, which runs under the peer's Python
# and answers each JSON command line with one JSON line. A peer's script
# defines `build(cmd)` (returns its parameter count) and `steps(n)` (trains
# `n` steps, returns the last loss and the mean sequence length), then this
# loop answers.
WORKER_LOOP = r'''
out = lambda **kw: print(json.dumps(kw), flush=True)
out(torch=torch.__version__, threads=torch.get_num_threads())
for line in sys.stdin:
  cmd = json.loads(line)
  if cmd['cmd'] == 'build':
    out(params=build(cmd))
  elif cmd['cmd'] == 'steps':
    start = time.perf_counter()
    loss, mean_length = steps(cmd['n'])
    out(seconds=time.perf_counter() - start, loss=loss,
        mean_length=mean_length)
  else:
    break
'''

# pytorch-dnc's worker.
_WORKER = r'''
import json, os, sys, time, types
peer_dir, threads = sys.argv[1], int(sys.argv[2])
sys.path[:0] = [peer_dir, os.path.join(peer_dir, 'tasks')]
sys.modules['visdom'] = types.SimpleNamespace(Visdom=None)  # plots only.
import numpy as np
import torch
from torch.nn.utils import clip_grad_norm_
torch.set_num_threads(threads)
import copy_task
from dnc import DNC
cpu = torch.device('cpu')

def build(cmd):
  global rnn, opt, batch, lengths
  np.random.seed(0)
  torch.manual_seed(0)
  batch, lengths = cmd['batch'], cmd['lengths']
  rnn = DNC(input_size=6, hidden_size=64, rnn_type='lstm', num_layers=1,
            num_hidden_layers=2, dropout=0, nr_cells=cmd['cells'],
            cell_size=20, read_heads=4, device=cpu, debug=False,
            batch_first=True, independent_linears=True)
  opt = torch.optim.Adam(rnn.parameters(), lr=1e-4, eps=1e-9,
                         betas=(0.9, 0.98))
  return sum(p.numel() for p in rnn.parameters())

def steps(n):
  total = 0
  for _ in range(n):
    opt.zero_grad()
    length = np.random.randint(lengths[0], lengths[1] + 1)
    x, y = copy_task.generate_data(batch, length, 6, cpu)
    output, (chx, mhx, rv) = rnn(x, (None, None, None),
                                 reset_experience=True,
                                 pass_through_memory=True)
    loss = copy_task.criterion(output, y.permute(1, 0, 2))  # shim
    loss.backward()
    clip_grad_norm_(rnn.parameters(), 50)
    opt.step()
    loss_value = loss.item()
    mhx = [{k: v.detach() for k, v in m.items()} for m in mhx]  # shim
    total += length
  return loss_value, total / n
''' + WORKER_LOOP


class PeerWorker:
  """The peer's process: `ask(cmd)` sends one command, returns its answer.

  `script` (default: this file's pytorch-dnc worker) runs under the peer's
  Python with argv `peer_dir threads`, answers one JSON line on start and
  one per JSON command line.
  """

  def __init__(self, python: str, peer_dir: str, threads: int,
               script: str = _WORKER):
    self._proc = subprocess.Popen(
        [python, '-c', script, peer_dir, str(threads)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    self.info = self._answer()

  def _answer(self) -> dict:
    line = self._proc.stdout.readline()
    if not line:
      raise RuntimeError(f'peer worker exited ({self._proc.wait()})')
    return json.loads(line)

  def ask(self, **cmd) -> dict:
    self._proc.stdin.write(json.dumps(cmd) + '\n')
    self._proc.stdin.flush()
    return self._answer()

  def close(self) -> None:
    if self._proc.poll() is None:
      self._proc.stdin.close()
      self._proc.wait()


def memax_config(cells: int, lengths: tuple[int, int], batch: int,
                 per_batch: bool):
  """`configs/train.py`'s dnc on copy with the peer's sizes and optimiser."""
  from configs import train as train_config  # pylint: disable=g-import-not-at-top
  from memax import overrides  # pylint: disable=g-import-not-at-top
  fields = {
      'model.controller_size': 64, 'model.controller_layers': 2,
      'model.memory_size': cells, 'model.word_size': 20,
      'model.num_read_heads': 4, 'model.strength': 'softplus',
      'model.controller_clip': 20.0,
      'task.num_bits': 5, 'task.min_length': lengths[0],
      'task.max_length': lengths[1],
      'optimizer.name': 'adam', 'optimizer.learning_rate': 1e-4,
      'optimizer.eps': 1e-9, 'optimizer.grad_clip_value': 0.0,
      'optimizer.grad_clip_norm': 50.0, 'train.batch_size': batch}
  if per_batch:
    fields.update({'task.length_per_batch': True,
                   'train.length_buckets': lengths[1]})
  return overrides.apply(
      train_config.get_config('model=dnc,task=copy'), fields)


class PeerSide:
  """One configuration of the peer (its worker's 'build' command with
  `batch` and `build`), timed call by call like `_Bench`."""

  def __init__(self, worker: PeerWorker, batch: int, steps: int, **build):
    self.worker, self.steps, self.batch = worker, steps, batch
    self.params = worker.ask(cmd='build', batch=batch, **build)['params']
    worker.ask(cmd='steps', n=2)  # warm-up.
    self.answers = []

  def timed_call(self) -> None:
    self.answers.append(self.worker.ask(cmd='steps', n=self.steps))

  def record(self) -> dict:
    step_s = [a['seconds'] / self.steps for a in self.answers]
    med = statistics.median(step_s)
    return dict(self.worker.info, ms_per_step=1e3 * med,
                min_ms_per_step=1e3 * min(step_s),
                max_ms_per_step=1e3 * max(step_s),
                sequences_per_s=self.batch / med, repeats=len(step_s),
                steps_per_call=self.steps, num_params=self.params,
                mean_length=statistics.mean(a['mean_length']
                                            for a in self.answers),
                last_loss=self.answers[-1]['loss'])


def measure(workers, cells: int, lengths, args) -> list[dict]:
  from benchmarks import run  # pylint: disable=g-import-not-at-top
  where = dict(cells=cells, lengths=f'{lengths[0]}-{lengths[1]}',
               batch_size=args.batch_size)
  variants = ['padded', 'per_batch'] if lengths[0] < lengths[1] else ['fixed']
  sides = {v: run._Bench(  # pylint: disable=protected-access
      'dnc', 'copy', args.batch_size, steps_per_call=args.memax_steps,
      config=memax_config(cells, lengths, args.batch_size, v == 'per_batch'))
           for v in variants}
  peer_steps = args.peer_steps if lengths[0] < lengths[1] else max(
      1, args.peer_steps // 2)
  for threads, worker in workers.items():
    sides[threads] = PeerSide(worker, args.batch_size, peer_steps,
                              cells=cells, lengths=list(lengths))
  order = list(sides.values())
  for r in range(args.repeats):
    k = r % len(order)
    for side in order[k:] + order[:k]:
      side.timed_call()
  peers = [dict(kind='peer', **where, **sides.pop(t).record())
           for t in workers]
  keep = ('ms_per_step', 'min_ms_per_step', 'max_ms_per_step',
          'sequences_per_s', 'mean_sequences_per_s', 'repeats',
          'steps_per_call', 'compile_s', 'num_params', 'max_steps')
  records = []
  for variant, bench in sides.items():
    rec = bench.record()
    records.append(dict(kind='memax', variant=variant, **where,
                        **{k: rec[k] for k in keep},
                        jax_version=rec['jax_version'],
                        cpu_count=rec['cpu_count']))
  ratios = [dict(kind='ratio', variant=mine['variant'], **where,
                 peer_threads=peer['threads'],
                 memax_sequences_per_s=mine['sequences_per_s'],
                 peer_sequences_per_s=peer['sequences_per_s'],
                 memax_over_peer=(mine['sequences_per_s']
                                  / peer['sequences_per_s']),
                 loadavg_1m=os.getloadavg()[0])
            for mine in records for peer in peers]
  return records + peers + ratios


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--repeats', type=int, default=5,
                      help='timed calls of each side, alternating')
  parser.add_argument('--cells', default='16,64,256')
  parser.add_argument('--lengths', default='1-4,20-20',
                      help='min-max length ranges')
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--memax_steps', type=int, default=50,
                      help='train steps per timed memax call')
  parser.add_argument('--peer_steps', type=int, default=20,
                      help='train steps per timed peer call (half of it at '
                           'a fixed length)')
  parser.add_argument('--peer_dir', default='/tmp/dnc_peer')
  parser.add_argument('--peer_python', default='/tmp/peer/venv/bin/python')
  parser.add_argument('--peer_threads', default='1',
                      help='torch thread counts, one peer process each')
  parser.add_argument('--compilation_cache', default='auto',
                      help="memax's persistent XLA cache (a folder, 'off')")
  parser.add_argument('--out', default='', help='also append the lines here')
  args = parser.parse_args(argv)
  from memax.training import compile_cache  # pylint: disable=g-import-not-at-top
  compile_cache.enable(args.compilation_cache)
  start = time.perf_counter()
  workers = {}
  try:
    for threads in args.peer_threads.split(','):
      workers[int(threads)] = PeerWorker(args.peer_python, args.peer_dir,
                                          int(threads))
    for cells in [int(c) for c in args.cells.split(',')]:
      for text in args.lengths.split(','):
        lo, hi = (int(x) for x in text.split('-'))
        for rec in measure(workers, cells, (lo, hi), args):
          line = json.dumps(rec, sort_keys=True)
          print(line, flush=True)
          if args.out:
            with open(args.out, 'a') as f:
              f.write(line + '\n')
  finally:
    for worker in workers.values():
      worker.close()
  print(json.dumps(dict(kind='done', wall_s=time.perf_counter() - start,
                        loadavg=os.getloadavg())), flush=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())
