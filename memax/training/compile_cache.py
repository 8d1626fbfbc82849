"""JAX's persistent compilation cache, on by default for the launchers.

A second launch of the same config (a resume, another seed, an evaluation)
reads its compiled XLA programs from disk instead of compiling them again.
Where the cache lives, in order:

- `config.compilation_cache`: a directory, or `'off'`;
- the `MEMAX_COMPILATION_CACHE` environment variable: a directory, or `off`;
- `$XDG_CACHE_HOME/memax/jax`, else `~/.cache/memax/jax`.
"""

import os

from absl import logging
import jax

ENV = 'MEMAX_COMPILATION_CACHE'
OFF = ('off', 'none', '0', 'false', 'no')


def default_dir() -> str:
  base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
      os.path.expanduser('~'), '.cache')
  return os.path.join(base, 'memax', 'jax')


def resolve(setting: str | None = 'auto') -> str | None:
  """The cache directory that `setting` selects, or None when it is off."""
  setting = (setting or 'auto').strip()
  if setting == 'auto':
    setting = os.environ.get(ENV, '').strip() or default_dir()
  if setting.lower() in OFF:
    return None
  return os.path.abspath(os.path.expanduser(setting))


def enable(setting: str | None = 'auto') -> str | None:
  """Turns the cache on (or leaves it off); returns its directory or None.

  Every compiled program is cached, however quickly it compiled: the
  launchers' small programs (initialisation, evaluation) add up.
  """
  path = resolve(setting)
  if path is None:
    logging.info('Persistent compilation cache off.')
    return None
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    raise ValueError(
        f'config.compilation_cache (or ${ENV}): cannot create the cache '
        f'directory {path}: {e}. Give a writable directory, or "off".'
    ) from e
  jax.config.update('jax_compilation_cache_dir', path)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
  logging.info('Persistent compilation cache: %s', path)
  return path
