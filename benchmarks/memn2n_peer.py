"""MemN2N training throughput beside a PyTorch peer, on joint bAbI 1k.

The peer is nmhkahn/MemN2N-pytorch (3 hops, adjacent tying, position
encoding with the time word as the sentence's last word), checked out
outside this repository (it is never part of memax) and run by its own
Python with torch in a subprocess. That subprocess builds the peer's model
(`model.MemN2N`) and calls its trainer's own epoch
(`trainer.Trainer._train_single_epoch`: its DataLoader, forward, summed
cross-entropy, backward, gradient clipping and noise, SGD) on all 20 tasks'
training questions, vectorised by the peer's `data_utils`. Memax trains
`configs/memn2n_babi.py:tasks=0` with the compiled epoch of
`benchmarks/babi.py`. The two alternate epoch by epoch (each waits for the
other), so machine load affects both; the medians of the timed epochs give
examples/s and the ratio memax/peer.

Harness shims (the peer's code is not edited): the peer targets old Python
and torch, so its tokenizer (`re.split("(\\W+)?")`, which fails on Python 3)
is replaced by one that gives the output its docstring shows (words and
punctuation), and its loss is returned as a one-element tensor, as its
trainer's `loss.data[0]` expects. The joint vocabulary, sentence size and
memory size (50) are built over all 20 tasks the way its `bAbIDataset` builds
them for one. Its embedding size is set to memax's joint `d` (50) unless
`--peer_embedding` says otherwise (its trainer hard-codes 20).

  git --git-dir=<mirror of nmhkahn/MemN2N-pytorch> archive HEAD | \\
      tar -x -C /tmp/memn2n_peer
  python -m venv /tmp/peer/venv && /tmp/peer/venv/bin/pip install torch six
  PYTHONPATH=. python benchmarks/memn2n_peer.py --repeats=5

Output: one JSON object per line (memax, peer, ratio).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

_DATA = os.path.join(_ROOT, '..', 'shared', 'data', 'babi',
                     'tasks_1-20_v1-2')

# Runs under the peer's Python: reads one command per line ('epoch' or
# 'quit') and answers each epoch with a JSON line.
_WORKER = r'''
import argparse, itertools, json, re, sys, time
peer_dir, data_dir, embedding, threads = sys.argv[1:5]
sys.path.insert(0, peer_dir)
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset
if int(threads) > 0:
  torch.set_num_threads(int(threads))
import data_utils
data_utils.tokenize = lambda sent: re.findall(r'\w+|[^\w\s]', sent)
import model as peer_model
import trainer as peer_trainer

train, everything = [], []
for task in range(1, 21):
  tr, te = data_utils.load_task(data_dir, task)
  train += tr
  everything += tr + te
vocab = sorted(set(itertools.chain.from_iterable(
    list(itertools.chain.from_iterable(s)) + q + a
    for s, q, a in everything)))
word_idx = {w: i + 1 for i, w in enumerate(vocab)}
max_story = max(len(s) for s, _, _ in everything)
memory_size = min(50, max_story)
for i in range(memory_size):
  word_idx['time%d' % (i + 1)] = 'time%d' % (i + 1)
sentence_size = max(max(len(q) for _, q, _ in everything),
                    max(len(r) for s, _, _ in everything for r in s)) + 1
story, query, answer = data_utils.vectorize_data(
    train, word_idx, sentence_size, memory_size)
data = TensorDataset(torch.LongTensor(story), torch.LongTensor(query),
                     torch.LongTensor(np.argmax(answer, axis=1)))

t = peer_trainer.Trainer.__new__(peer_trainer.Trainer)
t.config = argparse.Namespace(cuda=False, max_clip=40.0, batch_size=32,
                              lr=0.01, decay_interval=25, decay_ratio=0.5)
t.train_loader = DataLoader(data, batch_size=32, num_workers=1, shuffle=True)
t.mem_n2n = peer_model.MemN2N({
    'use_cuda': False, 'num_vocab': len(word_idx) + 1,
    'embedding_dim': int(embedding), 'sentence_size': sentence_size,
    'max_hops': 3})
summed = nn.CrossEntropyLoss(reduction='sum')
t.ce_fn = lambda logits, target: summed(logits, target).reshape(1)
t.opt = torch.optim.SGD(t.mem_n2n.parameters(), lr=0.01)
info = dict(examples=len(data), steps=len(t.train_loader),
            vocab=len(word_idx) + 1, sentence_size=sentence_size,
            memory_size=memory_size, embedding=int(embedding),
            torch=torch.__version__, threads=torch.get_num_threads())
print(json.dumps(info), flush=True)
epoch = 0
for line in sys.stdin:
  if line.strip() != 'epoch':
    break
  start = time.perf_counter()
  loss = t._train_single_epoch(epoch)
  seconds = time.perf_counter() - start
  epoch += 1
  print(json.dumps(dict(epoch_s=seconds, loss=float(loss))), flush=True)
'''


class _Peer:
  """The peer's training process; one epoch per `epoch()` call."""

  def __init__(self, python: str, peer_dir: str, data_dir: str,
               embedding: int, threads: int):
    self._script = tempfile.NamedTemporaryFile(
        'w', suffix='_memn2n_peer_worker.py', delete=False)
    self._script.write(_WORKER)
    self._script.close()
    self._proc = subprocess.Popen(
        [python, self._script.name, os.path.join(peer_dir, 'memn2n'),
         os.path.join(data_dir, 'en'), str(embedding), str(threads)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    self.info = json.loads(self._readline())
    self.epoch_seconds: list[float] = []

  def _readline(self) -> str:
    line = self._proc.stdout.readline()
    if not line:
      raise RuntimeError(f'peer worker exited ({self._proc.wait()})')
    return line

  def epoch(self) -> float:
    self._proc.stdin.write('epoch\n')
    self._proc.stdin.flush()
    return json.loads(self._readline())['epoch_s']

  def close(self) -> None:
    if self._proc.poll() is None:
      self._proc.stdin.write('quit\n')
      self._proc.stdin.close()
      self._proc.wait()
    os.unlink(self._script.name)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--repeats', type=int, default=3,
                      help='timed epochs of each, alternating')
  parser.add_argument('--peer_dir', default='/tmp/memn2n_peer')
  parser.add_argument('--peer_python', default='/tmp/peer/venv/bin/python')
  parser.add_argument('--data', default=os.environ.get('MEMAX_BABI_DIR',
                                                       _DATA),
                      help='the tasks_1-20_v1-2 folder')
  parser.add_argument('--peer_embedding', type=int, default=50)
  parser.add_argument('--peer_threads', type=int, default=0,
                      help="torch threads (0: torch's default)")
  parser.add_argument('--config_args', default='tasks=0',
                      help='memax config arguments')
  args = parser.parse_args(argv)
  os.environ.setdefault('MEMAX_BABI_DIR', os.path.abspath(args.data))
  from benchmarks import babi  # pylint: disable=g-import-not-at-top

  peer = _Peer(args.peer_python, args.peer_dir, args.data,
               args.peer_embedding, args.peer_threads)
  try:
    mine = babi._EpochBench('memn2n', args.config_args)  # pylint: disable=protected-access
    peer.epoch()  # warm-up epoch.
    peer_seconds = []
    for r in range(args.repeats):
      if r % 2:
        peer_seconds.append(peer.epoch())
        mine.timed_call()
      else:
        mine.timed_call()
        peer_seconds.append(peer.epoch())
  finally:
    peer.close()
  record = mine.record()
  memax = {k: record[k] for k in (
      'epoch_s', 'min_epoch_s', 'max_epoch_s', 'train_examples_per_s',
      'steps_per_epoch', 'batch_size', 'compile_s', 'repeats', 'vocab_size',
      'sentence_size', 'memory_size')}
  memax['embedding'] = record['model_config']['embedding_size']
  peer_epoch = statistics.median(peer_seconds)
  peer_rec = dict(peer.info, epoch_s=peer_epoch, min_epoch_s=min(peer_seconds),
                  max_epoch_s=max(peer_seconds), repeats=len(peer_seconds),
                  train_examples_per_s=peer.info['examples'] / peer_epoch)
  ratio = memax['train_examples_per_s'] / peer_rec['train_examples_per_s']
  for rec in (dict(kind='memax', **memax), dict(kind='peer', **peer_rec),
              dict(kind='ratio', memax_over_peer_examples_per_s=ratio,
                   loadavg_1m=os.getloadavg()[0])):
    print(json.dumps(rec, sort_keys=True), flush=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())
