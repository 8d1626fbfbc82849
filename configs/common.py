"""Parsing of the `get_config(arg)` string, after big_vision's `parse_arg`.

`get_config('model=ntm,task=copy,runlocal')` -> a ConfigDict with `model='ntm'`,
`task='copy'`, `runlocal=True`. Values take the type of their default.
"""

import ml_collections


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """Parses `k1=v1,k2,k3=v3` with types taken from `defaults`.

  A bare key means `True`. Unknown keys raise ValueError naming them.
  """
  result = ml_collections.ConfigDict(defaults)
  for item in filter(None, (arg or '').split(',')):
    key, _, value = item.partition('=')
    key = key.strip()
    if key not in defaults:
      raise ValueError(f'Unknown config argument {key!r} in {arg!r}; expected '
                       f'one of {sorted(defaults)}.')
    default = defaults[key]
    if isinstance(default, bool):
      result[key] = (not value) or value.lower() in ('1', 'true', 'yes')
    elif isinstance(default, int):
      result[key] = int(value)
    elif isinstance(default, float):
      result[key] = float(value)
    else:
      result[key] = value
  return result


def _items(arg: str | None) -> list[tuple[str, str]]:
  """`[(key, item)]` of the argument string, e.g. `('tasks', 'tasks=0')`."""
  return [(item.partition('=')[0].strip(), item)
          for item in filter(None, (arg or '').split(','))]


def given(arg: str | None) -> frozenset[str]:
  """The keys written in the argument string, e.g. {'tasks', 'runlocal'}."""
  return frozenset(key for key, _ in _items(arg))


def arg_value(arg: str | None, key: str, default):
  """One key of the argument string, typed as `default` (absent: it)."""
  return parse_arg(','.join(item for k, item in _items(arg) if k == key),
                   **{key: default})[key]


def without(arg: str | None, *keys: str) -> str:
  """The argument string less the items of `keys`."""
  return ','.join(item for k, item in _items(arg) if k not in keys)


def seeds(arg: str | None, default: int) -> range:
  """A sweep's seeds: 0..N-1, N = the argument's `seeds=N` or `default`."""
  return range(arg_value(arg, 'seeds', 0) or default)


def add_seeds(add, arg: str | None, default: int) -> None:
  """A sweep over seeds alone: `add(seed=s)` for each of `seeds`."""
  for seed in seeds(arg, default):
    add(seed=seed)


def config_diff(base: ml_collections.ConfigDict,
                other: ml_collections.ConfigDict) -> dict[str, object]:
  """`{'a.b': value}`: the leaves of `other` that differ from `base`'s."""
  out = {}

  def walk(a, b, prefix):
    for key in b:
      value = b[key]
      if isinstance(value, ml_collections.ConfigDict):
        walk(a[key], value, f'{prefix}{key}.')
      elif a[key] != value:
        out[f'{prefix}{key}'] = value

  walk(base, other, '')
  return out
