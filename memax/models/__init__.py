"""Models, looked up by name in one explicit registry."""

import dataclasses
from typing import Any, Callable

import flax.linen as nn

from memax.cells.lstm import LSTMBaseline
from memax.cells.ntm import NTMCell
from memax.models.sequence import SequenceModel

# name -> the cell class that a SequenceModel unrolls.
REGISTRY: dict[str, Callable[..., nn.Module]] = {
    'ntm': NTMCell,
    'lstm': LSTMBaseline,
}

_MODEL_FIELDS = ('name', 'unroll', 'remat')


def build(config: Any, output_size: int, *, return_aux: bool = False
          ) -> SequenceModel:
  """Builds the model named by `config.name`.

  Args:
    config: `config.model`: `name`, `unroll`, and the cell's fields.
    output_size: logits per step, from the task.
    return_aux: ask the cell for auxiliary outputs (weights for plots).

  Returns:
    A `SequenceModel`.

  Raises:
    ValueError: naming the config field for an unknown name or field.
  """
  fields = dict(config)
  name = fields.get('name')
  if name not in REGISTRY:
    raise ValueError(f'Unknown model config.model.name={name!r}; expected '
                     f'one of {sorted(REGISTRY)}.')
  cell_cls = REGISTRY[name]
  known = {f.name for f in dataclasses.fields(cell_cls)}
  cell_fields = {k: v for k, v in fields.items() if k not in _MODEL_FIELDS}
  unknown = sorted(set(cell_fields) - known)
  if unknown:
    raise ValueError(f'Unknown field(s) config.model.{unknown[0]} for model '
                     f'{name!r}; known fields: {sorted(known - {"parent", "name"})}.')
  cell = cell_cls(**cell_fields, return_aux=return_aux)
  unroll = int(fields.get('unroll', 1))
  if unroll < 1:
    raise ValueError(f'config.model.unroll must be >= 1, got {unroll}.')
  return SequenceModel(cell=cell, output_size=output_size, unroll=unroll,
                       remat=bool(fields.get('remat', False)))
