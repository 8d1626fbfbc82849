"""Stops a run whose loss is not finite or has blown up, naming the step.

A non-finite loss or gradient is caught inside the train step (its update is
skipped and the step recorded in the state). A finite blow-up (a learning
rate of 1e12 takes the NTM's loss to 6e15 and it stays finite) is caught
here on the host, from the per-step losses each jitted chunk returns: a step
whose loss exceeds `factor` times a reference diverged. The reference is the
larger of the run's first loss (an untrained model's) and the median of the
recent losses, so the noisy spikes of a nearly solved model, tiny against
the first loss, never count, and a run that blows up at its second step
does.
"""

import collections
from typing import Iterable

import numpy as np


class Diverged(FloatingPointError):
  """The training loss blew up (finite, but far above its reference)."""


def no_checkpoint_text(latest: int | None, ckpt_every: int) -> str:
  if latest is None:
    return ('There is no checkpoint yet (the first is written at step '
            f'{ckpt_every}).')
  return f'The last checkpoint is step {latest}.'


class DivergenceGuard:
  """Finds the first step whose loss is `factor` times above the reference.

  Args:
    factor: the threshold (`config.train.divergence_factor`); 0 disables.
    window: the number of recent losses whose median is the reference.
    initial: the run's first loss (a resumed run reads it from its log).
    history: earlier losses, oldest first (a resumed run's logged losses).
  """

  def __init__(self, factor: float, *, window: int = 1000,
               initial: float | None = None, history: Iterable[float] = ()):
    self.factor = float(factor)
    self.initial = initial
    self._recent = collections.deque(
        (float(x) for x in history if np.isfinite(x)), maxlen=window)

  def reference(self) -> float | None:
    values = [v for v in (self.initial,) if v is not None]
    if self._recent:
      values.append(float(np.median(self._recent)))
    return max(values) if values else None

  def check(self, first_step: int, losses: np.ndarray) -> str | None:
    """Checks the losses of steps `first_step, first_step + 1, ...`.

    Returns None, or a message naming the first step that diverged.
    """
    losses = np.asarray(losses, np.float64).reshape(-1)
    if not losses.size:
      return None
    if self.initial is None:
      self.initial = float(losses[0])
    if self.factor > 0:
      ref = self.reference()
      if ref is not None and np.isfinite(ref) and ref > 0:
        over = np.flatnonzero(np.isfinite(losses)
                              & (losses > self.factor * ref))
        if over.size:
          i = int(over[0])
          return (f'Training diverged at step {first_step + i}: its loss '
                  f'{losses[i]:.4g} is over {self.factor:g} x {ref:.4g}, the '
                  f'larger of the first loss ({self.initial:.4g}) and the '
                  'median of the recent losses '
                  '(config.train.divergence_factor; 0 turns this off).')
    self._recent.extend(float(x) for x in losses if np.isfinite(x))
    return None
