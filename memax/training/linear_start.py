"""MemN2N's linear start, ended when the validation loss stops decreasing.

Sukhbaatar et al. 2015, sec. 4.2: training starts with the softmax of every
memory layer removed; "when the validation loss stopped decreasing, the
softmax layers were re-inserted and training recommenced". A model opts in
with `linear_start_epochs = -1` in its config, which `memax.models.build`
turns into `linear_start_steps = UNTIL_PLATEAU`. The trainer then evaluates
the validation split periodically (in the model's current, linear form) and,
at the first evaluation whose validation loss is not below the best so far,
ends linear start at that step. The decision is kept in
`workdir/linear_start.json`, so a resumed run and a later evaluation rebuild
the same model; the train step itself stays a pure function of the step.
"""

import json
import os
from typing import Any

from memax.models import UNTIL_PLATEAU

FILENAME = 'linear_start.json'


def is_until_plateau(model: Any) -> bool:
  """Whether `model` runs linear start until the validation plateau."""
  return getattr(model, 'linear_start_steps', None) == UNTIL_PLATEAU


def load(workdir: str) -> dict[str, Any]:
  """`{'end_step': int | None, 'best_valid_loss': float | None}`."""
  path = os.path.join(workdir, FILENAME)
  if not os.path.exists(path):
    return {'end_step': None, 'best_valid_loss': None}
  with open(path) as f:
    return json.load(f)


def apply(model: Any, workdir: str) -> Any:
  """`model` with the end of linear start recorded in `workdir`, if any."""
  if not is_until_plateau(model):
    return model
  end = load(workdir)['end_step']
  return model if end is None else model.clone(linear_start_steps=end)


class PlateauSwitch:
  """Watches the validation loss and ends linear start at its plateau."""

  def __init__(self, workdir: str):
    self._path = os.path.join(workdir, FILENAME)
    self.state = load(workdir)

  @property
  def active(self) -> bool:
    return self.state['end_step'] is None

  def update(self, step: int, valid_loss: float) -> bool:
    """Records one evaluation; returns True when linear start ends now."""
    best = self.state['best_valid_loss']
    ended = best is not None and not valid_loss < best
    if ended:
      self.state['end_step'] = step
    else:
      self.state['best_valid_loss'] = valid_loss
    self.state['last_step'] = step
    tmp = self._path + '.tmp'
    with open(tmp, 'w') as f:
      json.dump(self.state, f)
    os.replace(tmp, self._path)
    return ended
