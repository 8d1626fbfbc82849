"""NTM training throughput beside pytorch-ntm, on its copy task.

The peer is loudinthecloud/pytorch-ntm (3c64937, `tasks/copytask.py` with
its defaults: an `EncapsulatedNTM` with an LSTM controller of 100 units,
memory 128 x 20, one read and one write head, 8-bit vectors and a
delimiter channel, one length per batch from 1..20, BCE loss, RMSprop 1e-4
with momentum 0.9 and alpha 0.95), checked out outside this repository (it
is never part of memax) and run by its own Python with torch in a
subprocess. Its timed training step is its `train.py`'s `train_batch`
(zero_grad, the sequence and delimiter fed step by step, the outputs read
step by step, loss, backward, its gradient clipping, the optimiser step,
the binarised cost) on a batch from its own `dataloader`. One harness
shim, the peer's files unchanged: its `attr.attrib(convert=...)` is mapped
to today's `converter=` before its modules are imported. torch runs with
`--peer_threads` threads (default 1: on this loaded 2-core machine more
threads wait on each other, as `benchmarks/dnc_peer.py` found).

memax trains `ntm` on `copy` through `benchmarks/run.py`'s `_Bench` (the
training setup's compiled chunk of `--memax_steps` steps) at the same
sizes (`configs/train.py`'s NTM copy: LSTM 100, memory 128 x 20, 1 + 1
heads, RMSProp 1e-4), in its default setting (a length per sequence,
padded to 41 steps) and its tuned one (one length per batch, as the peer,
in length buckets; at batch 32 also remat and the batch split over two
CPU host devices, which the script sets up as `benchmarks/run.py` does).

Both sides are built and warmed up, then timed in alternation
(`--repeats` rounds), so machine load affects both; the medians of the
per-step times give sequences/s and the ratio memax/peer.

  git --git-dir=<mirror of loudinthecloud/pytorch-ntm> archive HEAD | \\
      tar -x -C /tmp/ntm_peer
  python3.11 -m venv /tmp/ntm_peer/venv
  /tmp/ntm_peer/venv/bin/pip install torch==2.13.0 numpy attrs argcomplete
  PYTHONPATH=. python benchmarks/ntm_peer.py --repeats=5

Output: one JSON object per line (kind memax, peer, ratio).
"""

import argparse
import json
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

from benchmarks import dnc_peer  # pylint: disable=g-import-not-at-top

# Runs under the peer's Python (see `dnc_peer.PeerWorker`).
_WORKER = r'''
import json, os, random, sys, time
peer_dir, threads = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, peer_dir)
import attr
_attrib = attr.attrib
def attrib(*args, convert=None, **kwargs):  # shim: attrs renamed `convert`.
  if convert is not None:
    kwargs['converter'] = convert
  return _attrib(*args, **kwargs)
attr.attrib = attrib
import numpy as np
import torch
torch.set_num_threads(threads)
import train
from tasks.copytask import CopyTaskModelTraining, CopyTaskParams

def build(cmd):
  global model
  random.seed(0)
  np.random.seed(0)
  torch.manual_seed(0)
  model = CopyTaskModelTraining(
      params=CopyTaskParams(batch_size=cmd['batch'], num_batches=10**9))
  return sum(p.numel() for p in model.net.parameters())

def steps(n):
  total = 0
  for _ in range(n):
    _, x, y = next(model.dataloader)
    loss, _ = train.train_batch(model.net, model.criterion, model.optimizer,
                                x, y)
    total += y.size(0)
  return loss, total / n
''' + dnc_peer.WORKER_LOOP


def measure(worker, batch: int, args) -> list[dict]:
  from benchmarks import run  # pylint: disable=g-import-not-at-top
  sides = {setting: run._Bench('ntm', 'copy', batch,  # pylint: disable=protected-access
                               steps_per_call=args.memax_steps, warmup=1,
                               setting=setting)
           for setting in ('default', 'tuned')}
  peer = dnc_peer.PeerSide(worker, batch, args.peer_steps)
  order = list(sides.values()) + [peer]
  for i in range(args.repeats):
    for side in order[i % 3:] + order[:i % 3]:
      side.timed_call()
  peer_record = peer.record()
  records = [dict(kind='peer', name='pytorch-ntm', batch_size=batch,
                  **peer_record)]
  for setting, bench in sides.items():
    r = bench.record()
    records.append(dict(kind='memax', setting=setting, batch_size=batch,
                        ms_per_step=r['ms_per_step'],
                        sequences_per_s=r['sequences_per_s'],
                        num_params=bench.num_params, repeats=args.repeats,
                        steps_per_call=args.memax_steps))
    records.append(dict(kind='ratio', setting=setting, batch_size=batch,
                        memax_over_peer=r['sequences_per_s']
                        / peer_record['sequences_per_s']))
  return records


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--peer_python', default='/tmp/ntm_peer/venv/bin/python')
  p.add_argument('--peer_dir', default='/tmp/ntm_peer')
  p.add_argument('--peer_threads', type=int, default=1)
  p.add_argument('--batch_sizes', default='1,32')
  p.add_argument('--repeats', type=int, default=5)
  p.add_argument('--memax_steps', type=int, default=50)
  p.add_argument('--peer_steps', type=int, default=10)
  p.add_argument('--out', default='')
  args = p.parse_args(argv)
  from benchmarks import run  # pylint: disable=g-import-not-at-top
  from memax.training import sharding  # pylint: disable=g-import-not-at-top
  sharding.use_cpu_devices(run.TUNED_DEVICES)  # as benchmarks/run.py does.
  worker = dnc_peer.PeerWorker(args.peer_python, args.peer_dir,
                               args.peer_threads, script=_WORKER)
  records = []
  try:
    for batch in (int(b) for b in args.batch_sizes.split(',')):
      for record in measure(worker, batch, args):
        print(json.dumps(record), flush=True)
        records.append(record)
  finally:
    worker.close()
  if args.out:
    with open(args.out, 'a') as f:
      for record in records:
        f.write(json.dumps(record) + '\n')
  return 0


if __name__ == '__main__':
  sys.exit(main())
