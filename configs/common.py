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


def given(arg: str | None) -> frozenset[str]:
  """The keys written in the argument string, e.g. {'tasks', 'runlocal'}."""
  return frozenset(item.partition('=')[0].strip()
                   for item in filter(None, (arg or '').split(',')))
