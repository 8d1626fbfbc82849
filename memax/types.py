"""Shared types and the shape legend used in every docstring.

Shape legend:
  B  batch            T  time             N  memory slots
  W  word size        R  read heads       H  write heads
  K  hops / blocks    D  input features   O  output features
"""

from typing import Any, Mapping, NamedTuple

import jax

Array = jax.Array
PRNGKey = jax.Array
PyTree = Any


class Batch(NamedTuple):
  """A pytree of device arrays that a task produces and a model consumes.

  Attributes:
    inputs: `[B, T, D]` for sequence tasks; dataset-specific for QA.
    targets: `[B, T, O]` or `[B]` class ids.
    mask: `[B, T]` (or `[B]`): positions that count in the loss and metrics.
    num_steps: optional `[]` int: steps from this index on are padding for
      every sequence of the batch, so a sequence model may skip them.
    refresh: optional `[B, T]` 0/1: the input steps whose input the memory
      refreshing loss asks the model to reproduce (`memax.tasks.refresh`).
  """

  inputs: Array
  targets: Array
  mask: Array
  num_steps: Array | None = None
  refresh: Array | None = None


class ModelOutput(NamedTuple):
  """What every model returns.

  Attributes:
    logits: the task's outputs before the task's `probabilities` (a sigmoid
      for bit sequences, a softmax for answers): `[B, T, O]` or `[B, V]`.
    losses: named scalar objectives of the model itself (MemNN's margin
      ranking loss, a cell's per-step loss reduced over batch and time),
      always returned, possibly empty. The trainer minimises the weighted sum
      of the task's loss and these (`config.train.loss_weights`).
    aux: arrays for plots and diagnostics (read/write weights, attention),
      `{name: [B, ...]}`; possibly empty.
  """

  logits: Array
  losses: Mapping[str, Array] = {}
  aux: Mapping[str, Array] = {}
