"""Metric writers: `metrics.jsonl` and TensorBoard event files.

Method names follow clu's `MetricWriter` (`write_scalars`, `write_hparams`,
`flush`, `close`). TensorBoard files come from tensorboardX, which needs no
TensorFlow.
"""

import json
import math
import os
from typing import Any, Mapping

from absl import logging
import numpy as np

from memax.training import distributed


def _to_float(value: Any) -> float:
  return float(np.asarray(value))


class MetricWriter:
  """Writes scalars to `workdir/metrics.jsonl` and TensorBoard event files.

  Each jsonl line is `{"step": int, "split": str, name: float, ...}`, appended.
  A run resumed from checkpoint step `S` passes `purge_step=S + 1`: the
  trainer has already dropped the jsonl lines after `S`
  (`workdir.truncate_metrics`), and TensorBoard hides the events at steps
  `>= purge_step` that the interrupted run wrote, so each step shows once.

  With many processes, only process 0 writes: on the others every method
  does nothing (and no file is opened).
  """

  def __init__(self, workdir: str, *, tensorboard: bool = True,
               purge_step: int | None = None):
    self._jsonl = self._tb = None
    if not distributed.is_main_process():
      return
    os.makedirs(workdir, exist_ok=True)
    self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a')
    if tensorboard:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
      self._tb = SummaryWriter(logdir=os.path.join(workdir, 'tensorboard'),
                               purge_step=purge_step)

  def write_scalars(self, step: int, scalars: Mapping[str, Any], *,
                    split: str = 'train', member: int | None = None) -> None:
    """One jsonl line; `member`: a population member's index (its own
    `member` field in the line, and `member<i>/` before the TensorBoard
    tags)."""
    if self._jsonl is None:
      return
    values = {k: _to_float(v) for k, v in scalars.items()}
    record = {'step': int(step), 'split': split}
    if member is not None:
      record['member'] = int(member)
    record.update({k: (v if math.isfinite(v) else str(v))
                   for k, v in values.items()})
    self._jsonl.write(json.dumps(record) + '\n')
    if self._tb is not None:
      for name, value in values.items():
        prefix = '' if member is None else f'member{member}/'
        self._tb.add_scalar(f'{prefix}{split}/{name}', value, int(step))

  def write_hparams(self, hparams: Mapping[str, Any]) -> None:
    if self._tb is None:
      return
    flat = {k: (v if isinstance(v, (bool, int, float, str)) else str(v))
            for k, v in hparams.items()}
    self._tb.add_text('hparams', json.dumps(flat, indent=1, sort_keys=True))

  def flush(self) -> None:
    if self._jsonl is None:
      return
    self._jsonl.flush()
    if self._tb is not None:
      self._tb.flush()

  def close(self) -> None:
    if self._jsonl is None:
      return
    self.flush()
    self._jsonl.close()
    if self._tb is not None:
      self._tb.close()


def read_metrics(workdir: str) -> list[dict[str, Any]]:
  """Reads `metrics.jsonl` back as a list of records (none if absent).

  A line that is not JSON (torn by a kill while it was written) is skipped
  with a warning.
  """
  path = os.path.join(workdir, 'metrics.jsonl')
  records = []
  if not os.path.exists(path):
    return records
  with open(path) as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        records.append(json.loads(line))
      except ValueError:
        logging.warning('%s line %d is not JSON; skipped.', path, number)
  return records
