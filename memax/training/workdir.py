"""The workdir: one live owner at a time, its config, and its metric log.

`lock(workdir)` makes a training process the only one writing a workdir: a
second process started on it is refused with the holder's pid, host and
command. The lock is an advisory `flock` on `workdir/lock`, which the kernel
releases when its process dies, so a lock left by a killed run is taken over
(with a note naming the dead process) and never needs deleting by hand.
"""

import contextlib
import fcntl
import json
import os
import re
import socket
import sys
import time
from typing import Any, Iterator

from absl import logging
import ml_collections
import numpy as np

LOCK_FILE = 'lock'
# `python -m memax.evaluate`'s outputs: `evaluations/<name>/<variant>.json`.
EVALUATIONS_DIR = 'evaluations'


class WorkdirLocked(RuntimeError):
  """Another live process holds the workdir."""


def _holder(path: str) -> dict[str, Any]:
  try:
    with open(path) as f:
      return json.loads(f.read() or '{}')
  except (OSError, ValueError):
    return {}


def _describe(holder: dict[str, Any]) -> str:
  if not holder:
    return 'an unknown process'
  return (f"process {holder.get('pid')} on {holder.get('host')} (started "
          f"{holder.get('started')}: {holder.get('command')})")


@contextlib.contextmanager
def lock(workdir: str) -> Iterator[None]:
  """Holds `workdir` for this process; creates the directory if needed.

  Raises:
    WorkdirLocked: naming the process that holds it.
  """
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, LOCK_FILE)
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    os.close(fd)
    raise WorkdirLocked(
        f'{workdir} is in use by {_describe(_holder(path))}. Two runs in one '
        'workdir would overwrite each other\'s checkpoints and metrics: wait '
        'for it to finish, stop it, or use another --workdir.') from None
  previous = _holder(path)
  if previous:
    # The kernel released the lock, so its holder is gone.
    logging.warning('Taking over the lock of %s in %s: that process is no '
                    'longer running.', _describe(previous), workdir)
  me = {'pid': os.getpid(), 'host': socket.gethostname(),
        'started': time.strftime('%Y-%m-%d %H:%M:%S'),
        'command': ' '.join(sys.argv)}
  os.ftruncate(fd, 0)
  os.pwrite(fd, json.dumps(me).encode(), 0)
  os.fsync(fd)
  try:
    yield
  finally:
    # An empty file means "released cleanly"; the file itself stays, so a
    # process that opened it never holds a lock on an unlinked file.
    os.ftruncate(fd, 0)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def config_text(config: ml_collections.ConfigDict) -> str:
  return config.to_json_best_effort(indent=2, sort_keys=True)


def load_config(workdir: str) -> ml_collections.ConfigDict | None:
  """The config saved in `workdir/config.json`, or None."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def save_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Writes `workdir/config.json`, keeping an earlier one that differs."""
  path = os.path.join(workdir, 'config.json')
  text = config_text(config)
  if os.path.exists(path):
    with open(path) as f:
      old = f.read()
    if old == text:
      return
    # A resumed run with changed settings keeps the original on record.
    stamp = time.strftime('%Y%m%d-%H%M%S')
    kept = os.path.join(workdir, f'config.{stamp}.json')
    n = 1
    while os.path.exists(kept):
      n += 1
      kept = os.path.join(workdir, f'config.{stamp}-{n}.json')
    os.replace(path, kept)
  with open(path + '.tmp', 'w') as f:
    f.write(text)
  os.replace(path + '.tmp', path)


def first_config(workdir: str) -> ml_collections.ConfigDict | None:
  """The config `workdir`'s run was launched with: the earliest
  `config.<time>.json` that `save_config` kept when the run was resumed
  with other settings, else `config.json` (None where there is neither)."""
  kept = sorted(f for f in os.listdir(workdir)
                if re.fullmatch(r'config\.\d{8}-\d{6}(-\d+)?\.json', f))
  if not kept:
    return load_config(workdir)
  with open(os.path.join(workdir, kept[0])) as f:
    return ml_collections.ConfigDict(json.load(f))


@contextlib.contextmanager
def _replacing(path: str, mode: str) -> Iterator[Any]:
  """A file to write that becomes `path` whole when the block ends, or not
  at all (it is written beside it and renamed over it)."""
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  with open(path + '.tmp', mode) as f:
    yield f
  os.replace(path + '.tmp', path)


def write_text(path: str, text: str) -> None:
  """Writes `path` whole or not at all (through a file renamed over it)."""
  with _replacing(path, 'w') as f:
    f.write(text)


def write_arrays(path: str, arrays: dict[str, Any]) -> None:
  """`arrays` as a compressed `.npz` in `path`, whole or not at all."""
  with _replacing(path, 'wb') as f:
    np.savez_compressed(f, **arrays)


def write_json(path: str, value: Any, *, indent: int = 2,
               default: Any = None) -> None:
  """`value` as JSON (sorted keys) in `path`, whole or not at all."""
  write_text(path, json.dumps(value, indent=indent, sort_keys=True,
                              default=default))


def flatten(d: dict[str, Any], prefix: str = '') -> Iterator[tuple[str, Any]]:
  """`('a.b', value)` pairs of a nested dict."""
  for k, v in d.items():
    if isinstance(v, dict):
      yield from flatten(v, f'{prefix}{k}.')
    else:
      yield f'{prefix}{k}', v


def changed_fields(old: ml_collections.ConfigDict,
                   new: ml_collections.ConfigDict) -> list[str]:
  """Dotted names of the fields whose values differ (or exist in one only)."""
  norm = lambda v: list(v) if isinstance(v, tuple) else v
  a = {k: norm(v) for k, v in flatten(json.loads(config_text(old)))}
  b = {k: norm(v) for k, v in flatten(json.loads(config_text(new)))}
  return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def truncate_metrics(workdir: str, step: int) -> int:
  """Drops the lines of `metrics.jsonl` logged after `step`; returns how many.

  A run resumed from checkpoint `step` logs the later steps again (with the
  same numbers), so their lines from the interrupted run would otherwise
  appear twice. The file is replaced atomically.
  """
  path = os.path.join(workdir, 'metrics.jsonl')
  if not os.path.exists(path):
    return 0
  with open(path) as f:
    lines = f.readlines()
  keep = []
  for line in lines:
    if not line.strip():
      continue
    try:
      drop = json.loads(line)['step'] > step
    except (ValueError, KeyError, TypeError):
      # A torn last line (killed mid-write) goes; any other line that does
      # not parse is kept as it is.
      drop = not line.endswith('\n')
    if not drop:
      keep.append(line if line.endswith('\n') else line + '\n')
  lines = [line for line in lines if line.strip()]
  dropped = len(lines) - len(keep)
  if keep != lines:  # lines dropped, or a newline to restore.
    with open(path + '.tmp', 'w') as f:
      f.writelines(keep)
    os.replace(path + '.tmp', path)
  return dropped
