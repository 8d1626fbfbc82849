"""Orbax checkpoints of the train state: complete or absent, and read safely.

Orbax writes each step to a temporary directory and renames it when complete,
so an interrupted save never leaves a half-written checkpoint behind. A
checkpoint can still become unreadable afterwards (a disk error, a file
truncated or deleted by hand): `restore_newest` then falls back to the newest
checkpoint that restores, reports which steps it skipped and why, and never
deletes anything; training moves a skipped checkpoint aside to
`checkpoints_unreadable/` so that the run can write that step again.

Besides the latest `max_to_keep` checkpoints, training keeps the best one by
its evaluation metric in `checkpoint_best/` (`save_best`, `best_step`), so a
run that blows up never rotates its best model out.

Before anything is restored, `restore_newest` compares the checkpoint's stored
shapes with those the current config builds, so a changed parameter shape is
an error naming the config field, not a failure deep inside orbax.

With many processes (`memax.training.distributed`), every process makes the
same calls here in the same order (orbax synchronises them: each process
writes the shards it holds, process 0 the metadata), and `restore` places
the arrays where the caller asks, whatever topology saved them.
"""

import os
import shutil
from typing import Any, NamedTuple

import jax
import numpy as np
import orbax.checkpoint as ocp

BEST_DIR = 'checkpoint_best'
UNREADABLE_DIR = 'checkpoints_unreadable'


def manager(workdir: str, *, max_to_keep: int = 3, read_only: bool = False,
            subdir: str = 'checkpoints',
            best_mode: str | None = None) -> ocp.CheckpointManager:
  """A checkpoint manager over `workdir/<subdir>`.

  `best_mode` ('min' or 'max'): keep the `max_to_keep` checkpoints with the
  best `value` among the metrics they are saved with.
  """
  directory = os.path.abspath(os.path.join(workdir, subdir))
  options = ocp.CheckpointManagerOptions(
      max_to_keep=None if read_only else max_to_keep,
      save_interval_steps=0 if read_only else 1, create=not read_only,
      read_only=read_only, enable_async_checkpointing=False,
      best_fn=(lambda metrics: metrics['value']) if best_mode else None,
      best_mode=best_mode or 'max')
  # The handler is named so that a fresh manager can read the metadata of
  # what an earlier process saved.
  return ocp.CheckpointManager(directory, options=options,
                               item_handlers=ocp.StandardCheckpointHandler())


def save(mngr: ocp.CheckpointManager, step: int, state: Any) -> None:
  """Saves `state` (a pytree of arrays) at `step` and waits until done.

  With many processes, every process calls this: each writes the shards it
  holds, process 0 the metadata (orbax's primary host).
  """
  mngr.save(step, args=ocp.args.StandardSave(state), force=True)
  mngr.wait_until_finished()


def restore(mngr: ocp.CheckpointManager, abstract_state: Any,
            step: int | None = None, sharding: Any = None) -> Any:
  """Restores the state at `step` (default: the latest) into its structure.

  Every array goes to `sharding` (default: this process's first device),
  whatever devices and processes saved it. With many processes, every
  process calls this (orbax synchronises them).
  """
  step = mngr.latest_step() if step is None else step
  sharding = sharding or jax.sharding.SingleDeviceSharding(
      jax.local_devices()[0])
  target = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
      abstract_state)
  return mngr.restore(step, args=ocp.args.StandardRestore(target))


def all_steps(workdir: str, subdir: str = 'checkpoints') -> list[int]:
  """Steps with a (complete) checkpoint in `workdir/<subdir>`, ascending."""
  if not os.path.isdir(os.path.join(workdir, subdir)):
    return []
  return sorted(manager(workdir, read_only=True, subdir=subdir).all_steps())


def latest_step(workdir: str) -> int | None:
  """The latest complete checkpoint step in `workdir`, or None."""
  steps = all_steps(workdir)
  return steps[-1] if steps else None


# ---- shapes -----------------------------------------------------------------


def _key_name(key: Any) -> str:
  for attr in ('key', 'name', 'idx'):
    if hasattr(key, attr):
      return str(getattr(key, attr))
  return str(key)


def flat_shapes(tree: Any) -> dict[str, tuple[int, ...]]:
  """`{'params.cell.core.gates.kernel': shape, ...}` of a state or metadata.

  NamedTuple fields, dict keys and sequence indices all become path parts,
  so a restored state's abstract tree and orbax's stored metadata compare.
  """
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {'.'.join(_key_name(k) for k in path): tuple(leaf.shape)
          for path, leaf in leaves}


def shape_differences(stored: dict[str, tuple], expected: dict[str, tuple],
                      limit: int = 4) -> list[str]:
  """Human-readable differences between two `flat_shapes` maps."""
  out = []
  # Parameters first: the optimiser state only mirrors them.
  names = sorted(set(stored) | set(expected),
                 key=lambda n: (not n.startswith('params.'), n))
  for name in names:
    a, b = stored.get(name), expected.get(name)
    if a == b:
      continue
    if a is None:
      out.append(f'{name}: not in the checkpoint, the config builds {b}')
    elif b is None:
      out.append(f'{name}: {a} in the checkpoint, not built by the config')
    else:
      out.append(f'{name}: {a} in the checkpoint, {b} from the config')
  if len(out) > limit:
    out = out[:limit] + [f'... and {len(out) - limit} more']
  return out


class Unreadable(NamedTuple):
  """A checkpoint that could not be read: its step and the reason."""
  step: int
  reason: str


class ShapeMismatch(ValueError):
  """The checkpoint's stored shapes differ from those the config builds."""

  def __init__(self, step: int, differences: list[str]):
    self.step = step
    self.differences = differences
    super().__init__(f'checkpoint {step} does not match the config: '
                     + '; '.join(differences))


def reason(error: BaseException) -> str:
  """A one-line, bounded description of why reading failed."""
  text = ' '.join(str(error).split())
  if len(text) > 240:
    text = text[:237] + '...'
  return f'{type(error).__name__}: {text}'


def stored_shapes(mngr: ocp.CheckpointManager, step: int
                  ) -> dict[str, tuple[int, ...]]:
  """The shapes stored in checkpoint `step` (reads metadata only)."""
  return flat_shapes(mngr.item_metadata(step))


def restore_newest(mngr: ocp.CheckpointManager, abstract_state: Any, *,
                   steps: list[int] | None = None, sharding: Any = None
                   ) -> tuple[Any, int, list[Unreadable]]:
  """Restores the newest checkpoint that can be read, newest first.

  Args:
    mngr: the checkpoint manager.
    abstract_state: the state's structure (shapes and dtypes).
    steps: the steps to try (default every step of `mngr`), newest first.
    sharding: where the arrays go (see `restore`).

  Returns:
    `(state, step, skipped)`: the restored state, its step, and the newer
    checkpoints that could not be read (none is deleted or moved).

  Raises:
    ShapeMismatch: a readable checkpoint whose shapes differ from
      `abstract_state` (the config changed, not the checkpoint).
    FileNotFoundError: no checkpoint could be read; lists each step's reason.
  """
  steps = sorted(mngr.all_steps() if steps is None else steps, reverse=True)
  expected = flat_shapes(abstract_state)
  skipped = []
  for step in steps:
    try:
      stored = stored_shapes(mngr, step)
    except Exception as e:  # pylint: disable=broad-except
      skipped.append(Unreadable(step, reason(e)))
      continue
    differences = shape_differences(stored, expected)
    if differences:
      raise ShapeMismatch(step, differences)
    try:
      return (restore(mngr, abstract_state, step, sharding), step,
              skipped)
    except Exception as e:  # pylint: disable=broad-except
      skipped.append(Unreadable(step, reason(e)))
  raise FileNotFoundError(
      f'No checkpoint in {mngr.directory} could be read: '
      + '; '.join(f'step {s.step}: {s.reason}' for s in skipped))


def move_aside(workdir: str, step: int) -> str:
  """Moves `checkpoints/<step>` to `checkpoints_unreadable/`; returns where.

  Nothing is deleted: a later `step-<n>` suffix keeps an earlier copy.
  """
  source = os.path.join(workdir, 'checkpoints', str(step))
  target_dir = os.path.join(workdir, UNREADABLE_DIR)
  os.makedirs(target_dir, exist_ok=True)
  target = os.path.join(target_dir, str(step))
  n = 1
  while os.path.exists(target):
    n += 1
    target = os.path.join(target_dir, f'{step}-{n}')
  shutil.move(source, target)
  return target


# ---- the best checkpoint ----------------------------------------------------


def best_record(workdir: str) -> dict[str, Any] | None:
  """`{'step', 'metric', 'value', 'mode'}` of the best checkpoint, or None.

  The record is saved inside the checkpoint (orbax metrics), so it is
  written atomically with it.
  """
  steps = all_steps(workdir, BEST_DIR)
  if not steps:
    return None
  mngr = manager(workdir, read_only=True, subdir=BEST_DIR, best_mode='min')
  record = dict(mngr.metrics(steps[-1]) or {})
  record['step'] = steps[-1]
  return record


def best_step(workdir: str) -> int | None:
  """The step of the best checkpoint kept in `workdir`, or None."""
  steps = all_steps(workdir, BEST_DIR)
  return steps[-1] if steps else None


def is_better(value: float, best: float | None, mode: str) -> bool:
  """Whether `value` improves on `best` (None: nothing yet) under `mode`."""
  if not np.isfinite(value):
    return False
  if best is None:
    return True
  return value < best if mode == 'min' else value > best


def save_best(workdir: str, step: int, state: Any, *, metric: str,
              value: float, mode: str) -> None:
  """Keeps `state` as the best checkpoint, replacing the previous best.

  Orbax removes the previous best only once the new one is complete, so a
  crash leaves one readable best checkpoint.
  """
  mngr = manager(workdir, max_to_keep=1, subdir=BEST_DIR, best_mode=mode)
  mngr.save(step, args=ocp.args.StandardSave(state), force=True,
            metrics={'metric': metric, 'value': float(value), 'mode': mode})
  mngr.wait_until_finished()
  mngr.close()
