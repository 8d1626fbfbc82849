"""Config overrides, one syntax everywhere: `--config.a.b=value`.

The launcher gets them from ml_collections' `config_flags`; `memax.evaluate`,
the benchmarks, populations and sweeps apply them to a config they already
hold (a workdir's `config.json`, a config file's `get_config`) through
`apply`, with the same parsing: the text of a string field is taken as it
is, a bool reads true/false, anything else is a Python literal, and a tuple
field takes a scalar or a comma-separated list. A field that does not exist,
or a value of the wrong type, is an error naming the field.

  apply(config, ['model.memory_size=256', 'task.eval_lengths=120,160'])
  apply(config, {'optimizer.learning_rate': 3e-4})
"""

import ast
from typing import Any, Iterable, Mapping, Sequence

import ml_collections

PREFIX = '--config.'


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
  """Separates `--config.a.b=v` arguments (as `a.b=v`) from the others."""
  rest, overrides = [], []
  for arg in argv:
    if arg.startswith(PREFIX):
      overrides.append(arg[len(PREFIX):])
    else:
      rest.append(arg)
  return rest, overrides


def _parse_bool(text: str, path: str) -> bool:
  lowered = text.strip().lower()
  if lowered in ('true', '1', 'yes'):
    return True
  if lowered in ('false', '0', 'no'):
    return False
  raise ValueError(f'--config.{path}={text!r}: expected true or false.')


def parse_value(text: str, current: Any, path: str) -> Any:
  """The value of `--config.<path>=<text>` for a field holding `current`."""
  if isinstance(current, str):
    return text
  if isinstance(current, bool):
    return _parse_bool(text, path)
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    if isinstance(current, (int, float, tuple, list)):
      raise ValueError(f'--config.{path}={text!r}: expected a '
                       f'{type(current).__name__} like {current!r}.') from None
    value = text
  if isinstance(current, (tuple, list)):
    value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    return list(value) if isinstance(current, list) else value
  if isinstance(value, list):
    value = tuple(value)
  return value


def _node(config: ml_collections.ConfigDict, path: str
          ) -> tuple[ml_collections.ConfigDict, str]:
  *parents, leaf = path.split('.')
  node = config
  for i, p in enumerate(parents):
    if not isinstance(node, ml_collections.ConfigDict) or p not in node:
      raise ValueError(f'--config.{path}: the config has no field '
                       f'config.{".".join(parents[:i + 1])}.')
    node = node[p]
  if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
    known = (sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict)
             else [])
    raise ValueError(f'--config.{path}: the config has no field '
                     f'config.{path}' + (f'; {".".join(parents) or "config"} '
                                         f'has {known}.' if known else '.'))
  return node, leaf


def current_value(config: ml_collections.ConfigDict, path: str) -> Any:
  """The value `config.<path>` holds; an error names a missing field."""
  node, leaf = _node(config, path)
  return node[leaf]


def set_value(config: ml_collections.ConfigDict, path: str, value: Any
              ) -> None:
  """Sets `config.<path>` in place, type-checked; errors name the field."""
  node, leaf = _node(config, path)
  current = node[leaf]
  if isinstance(current, (tuple, list)) and not isinstance(value,
                                                           (tuple, list)):
    value = (value,)
  if isinstance(current, float) and isinstance(value, int) and not isinstance(
      value, bool):
    value = float(value)
  if isinstance(current, list) and isinstance(value, tuple):
    value = list(value)
  if isinstance(current, tuple) and isinstance(value, list):
    value = tuple(value)
  try:
    node[leaf] = value
  except TypeError as e:
    raise ValueError(f'--config.{path}={value!r}: {e}') from None


def items(overrides: Sequence[str] | Mapping[str, Any]
          ) -> Iterable[tuple[str, Any, bool]]:
  """`(path, value, is_text)` of each override."""
  if isinstance(overrides, Mapping):
    for path, value in overrides.items():
      yield path, value, False
    return
  for item in overrides:
    item = item[len(PREFIX):] if item.startswith(PREFIX) else item
    path, sep, text = item.partition('=')
    if not sep or not path:
      raise ValueError(f'Override {item!r} must look like '
                       '--config.field.path=value.')
    yield path, text, True


def apply(config: ml_collections.ConfigDict,
          overrides: Sequence[str] | Mapping[str, Any]
          ) -> ml_collections.ConfigDict:
  """A copy of `config` with `overrides` applied.

  Args:
    config: the config.
    overrides: `['a.b=text', ...]` (or with the `--config.` prefix), parsed
      by the field's type, or `{'a.b': value}` of Python values.

  Returns:
    A new, unlocked ConfigDict; `config` is unchanged.

  Raises:
    ValueError: naming the field that does not exist or the bad value.
  """
  out = ml_collections.ConfigDict(config.to_dict())
  for path, value, is_text in items(overrides):
    if is_text:
      node, leaf = _node(out, path)
      value = parse_value(value, node[leaf], path)
    set_value(out, path, value)
  return out


def describe(overrides: Sequence[str] | Mapping[str, Any]) -> list[str]:
  """The overrides as `a.b=value` strings (for records and folder names)."""
  return [f'{p}={v}' for p, v, _ in items(overrides)]
