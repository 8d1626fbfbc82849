"""Interface vectors: declare the fields a controller emits, then split.

A memory cell's controller emits one raw vector per step (the NTM's heads,
the MANN's keys and gates, the DNC's interface vector of the Methods). Each
cell declares its layout once, as `Field`s (name, shape, activation), and
`split` cuts the raw vector into activated arrays:

  fields = (Field('key', (W,)), Field('strength', (), ops.oneplus),
            Field('gate', (), jax.nn.sigmoid))
  size = interface_size(fields, num_heads=R)      # the Dense layer's width
  params = split(raw, fields, num_heads=R)        # params['key']: [B, R, W]

With `num_heads=H` the layout repeats the fields head after head (head 0's
fields, then head 1's, ...), and every array gains a heads axis before the
field's shape (also for `H = 1`); without it (None) there is no heads
axis. An activation is applied to the field's whole array, so
`softmax` (over the last axis) normalises each row of a `(R, 3)` field.
"""

import math
from typing import Callable, NamedTuple, Sequence

import jax.numpy as jnp
import numpy as np

from memax.types import Array


class Field(NamedTuple):
  """One field of an interface vector.

  Attributes:
    name: the key of the field in `split`'s result.
    shape: its shape per head, `()` for a scalar.
    activation: applied to the field's array; None keeps it linear.
  """

  name: str
  shape: tuple[int, ...]
  activation: Callable[[Array], Array] | None = None


def interface_size(fields: Sequence[Field], num_heads: int | None = None
                   ) -> int:
  """The raw vector's length: the fields' sizes, times the heads."""
  names = [f.name for f in fields]
  if len(set(names)) != len(names):
    raise ValueError(f'interface fields must have distinct names, got '
                     f'{names}.')
  for f in fields:
    if any(not isinstance(d, int) or d < 1 for d in f.shape):
      raise ValueError(f'interface field {f.name!r}: shape must hold '
                       f'positive integers, got {f.shape!r}.')
  return (num_heads or 1) * sum(math.prod(f.shape) for f in fields)


def split(raw: Array, fields: Sequence[Field], num_heads: int | None = None
          ) -> dict[str, Array]:
  """`raw [..., size]` -> `{name: activated [..., (H,) *shape]}`.

  Args:
    raw: the controller's interface vector, any leading axes.
    fields: the layout of one head, in order.
    num_heads: heads laid out one after another, each array with a heads
      axis; None: one group of fields, no heads axis.

  Returns:
    A dict of the fields' activated arrays, in the fields' order.
  """
  size = interface_size(fields, num_heads)
  if raw.shape[-1] != size:
    raise ValueError(f'interface vector of size {raw.shape[-1]}, expected '
                     f'{size} for {num_heads} x '
                     f'{[(f.name, f.shape) for f in fields]}.')
  lead = raw.shape[:-1] + ((num_heads,) if num_heads is not None else ())
  raw = raw.reshape(lead + (size // (num_heads or 1),))
  sizes = [math.prod(f.shape) for f in fields]
  parts = jnp.split(raw, np.cumsum(sizes)[:-1].tolist(), axis=-1)
  out = {}
  for f, part in zip(fields, parts):
    part = part.reshape(lead + f.shape)
    out[f.name] = part if f.activation is None else f.activation(part)
  return out
