"""Config checks shared by the cells: errors that name the config field."""

from typing import Any, Iterable


def check_positive_ints(cell: Any, fields: Iterable[str]) -> None:
  """Raises ValueError naming `config.model.<field>` unless each of the
  cell's `fields` is an int >= 1 (a bool is not)."""
  for field in fields:
    value = getattr(cell, field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(f'config.model.{field} must be a positive integer, '
                       f'got {value!r}.')
