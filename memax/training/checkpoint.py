"""Orbax checkpoints of the train state, complete or absent.

Orbax writes each step to a temporary directory and renames it when complete,
so an interrupted save never leaves a half-written checkpoint behind.
"""

import os
from typing import Any

import jax
import orbax.checkpoint as ocp


def manager(workdir: str, *, max_to_keep: int = 3,
            read_only: bool = False) -> ocp.CheckpointManager:
  """A checkpoint manager over `workdir/checkpoints`."""
  directory = os.path.abspath(os.path.join(workdir, 'checkpoints'))
  options = ocp.CheckpointManagerOptions(
      max_to_keep=max_to_keep, create=not read_only, read_only=read_only,
      enable_async_checkpointing=False)
  return ocp.CheckpointManager(directory, options=options)


def save(mngr: ocp.CheckpointManager, step: int, state: Any) -> None:
  """Saves `state` (a pytree of arrays) at `step` and waits until done."""
  mngr.save(step, args=ocp.args.StandardSave(state), force=True)
  mngr.wait_until_finished()


def restore(mngr: ocp.CheckpointManager, abstract_state: Any,
            step: int | None = None) -> Any:
  """Restores the state at `step` (default: the latest) into its structure."""
  step = mngr.latest_step() if step is None else step
  target = jax.tree.map(ocp.utils.to_shape_dtype_struct, abstract_state)
  return mngr.restore(step, args=ocp.args.StandardRestore(target))


def latest_step(workdir: str) -> int | None:
  """The latest complete checkpoint step in `workdir`, or None."""
  if not os.path.isdir(os.path.join(workdir, 'checkpoints')):
    return None
  return manager(workdir, read_only=True).latest_step()
