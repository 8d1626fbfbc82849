"""Models, looked up by name in one explicit registry."""

import dataclasses
from typing import Any, Callable

import flax.linen as nn

from memax.cells.dam import DAMCell
from memax.cells.dnc import DNCCell
from memax.cells.lstm import LSTMBaseline
from memax.cells.mann import MANNCell
from memax.cells.ntm import NTMCell
from memax.models.kvmemnn import KVMemNN
from memax.models.memn2n import MemN2N
from memax.models.memnn import MemNN
from memax.models.sequence import SequenceModel

# name -> the cell class that a SequenceModel unrolls.
REGISTRY: dict[str, Callable[..., nn.Module]] = {
    'ntm': NTMCell,
    'mann': MANNCell,
    'dnc': DNCCell,
    'dam': DAMCell,
    'lstm': LSTMBaseline,
}

# name -> a complete (non-recurrent) model over a finite dataset's inputs.
# Its `vocab_size` comes from the task.
DIRECT: dict[str, Callable[..., nn.Module]] = {
    'memn2n': MemN2N,
    'kvmemnn': KVMemNN,
    'memnn': MemNN,
}

_MODEL_FIELDS = ('name', 'unroll', 'remat', 'embedding_size',
                 'readout_dropout', 'readout_layers', 'output_clip')

def _known_fields(cls) -> set[str]:
  return {f.name for f in dataclasses.fields(cls)} - {'parent', 'name'}


def _build_direct(name: str, fields: dict[str, Any], input_size: int | None
                  ) -> nn.Module:
  cls = DIRECT[name]
  known = _known_fields(cls)
  fields = {k: v for k, v in fields.items() if k != 'name'}
  if 'linear_start_epochs' in fields:
    raise ValueError('config.model.linear_start_epochs is now a training '
                     'setting: config.train.linear_start_epochs.')
  unknown = sorted(set(fields) - known)
  if unknown:
    raise ValueError(f'Unknown field(s) config.model.{unknown[0]} for model '
                     f'{name!r}; known fields: {sorted(known)}.')
  if input_size is None:
    raise ValueError(f'Model {name!r} needs a task with a vocabulary '
                     '(config.task.name="babi").')
  return cls(vocab_size=input_size, **fields)


def build(config: Any, output_size: int, *, return_aux: bool = False,
          input_size: int | None = None) -> nn.Module:
  """Builds the model named by `config.name`.

  Args:
    config: `config.model`: `name`, and the model's (or cell's) fields.
    output_size: logits per step, from the task.
    return_aux: ask the cell for auxiliary outputs (weights for plots).
    input_size: the task's input size (the vocabulary of QA datasets).

  Returns:
    A `SequenceModel` around a cell, or a direct model (MemN2N, ...).

  Raises:
    ValueError: naming the config field for an unknown name or field.
  """
  fields = dict(config)
  name = fields.get('name')
  if name in DIRECT:
    return _build_direct(name, fields, input_size)
  if name not in REGISTRY:
    raise ValueError(f'Unknown model config.model.name={name!r}; expected '
                     f'one of {sorted(REGISTRY) + sorted(DIRECT)}.')
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
  dropout = fields.get('readout_dropout', 0.0)
  if (isinstance(dropout, bool) or not isinstance(dropout, (int, float))
      or not 0 <= dropout < 1):
    raise ValueError('config.model.readout_dropout must be a drop rate in '
                     f'[0, 1), got {dropout!r}.')
  layers = fields.get('readout_layers', ())
  layers = (layers,) if isinstance(layers, int) else tuple(layers or ())
  if not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1
             for w in layers):
    raise ValueError('config.model.readout_layers must be positive layer '
                     f'widths, got {fields.get("readout_layers")!r}.')
  clip = fields.get('output_clip', 0.0)
  if isinstance(clip, bool) or not isinstance(clip, (int, float)) or clip < 0:
    raise ValueError(f'config.model.output_clip must be >= 0 (0 disables), '
                     f'got {clip!r}.')
  embedding = fields.get('embedding_size', 0)
  if isinstance(embedding, bool) or not isinstance(embedding, int) or \
      embedding < 0:
    raise ValueError('config.model.embedding_size must be an integer >= 0 '
                     f'(0: no embedding), got {embedding!r}.')
  if embedding and not input_size:
    raise ValueError('config.model.embedding_size > 0 needs a task with a '
                     'vocabulary (its input size).')
  return SequenceModel(cell=cell, output_size=output_size, unroll=unroll,
                       remat=bool(fields.get('remat', False)),
                       embedding_size=embedding,
                       vocab_size=int(input_size or 0) if embedding else 0,
                       readout_dropout=float(dropout), readout_layers=layers,
                       output_clip=float(clip))
