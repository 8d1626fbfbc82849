"""What the command-line entry points share: quiet logs and the compile cache."""

import glob
import logging as py_logging
import os
import re
import signal
import sys
import traceback
from typing import Any, Callable, Sequence

from absl import flags
from absl import logging

from memax.training import compile_cache
from memax.training import workdir


class _QuietLibraries(py_logging.Filter):
  """Drops the INFO chatter of orbax and absl-logging libraries."""

  def filter(self, record: py_logging.LogRecord) -> bool:
    if 'xla_bridge' in record.pathname and 'libtpu' in str(record.msg):
      return False  # "Unable to initialize backend 'tpu'" on every CPU run.
    if not ('orbax' in record.pathname or 'etils' in record.pathname):
      return True
    if record.levelno >= py_logging.WARNING:
      # Opening checkpoints to read them is not worth a warning.
      return 'read only' not in str(record.msg)
    return False


# Set by the sweep runner for its trials: the pid of the sweep.
PARENT_ENV = 'MEMAX_SWEEP_PID'


def die_with_parent() -> None:
  """A sweep's trial ends (SIGTERM) when its sweep ends, even by SIGKILL.

  Only when `MEMAX_SWEEP_PID` names the parent (Linux; elsewhere the
  sweep's own cleanup stops its trials).
  """
  parent = os.environ.get(PARENT_ENV)
  if not parent or not sys.platform.startswith('linux'):
    return
  try:
    import ctypes  # pylint: disable=g-import-not-at-top
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
  except (OSError, AttributeError):
    return
  if os.getppid() != int(parent):  # the sweep died before the call
    sys.exit('memax: the sweep that started this trial has ended.')


def start(compilation_cache: str | None = 'auto') -> None:
  """Quiets library logs and turns on the persistent compilation cache."""
  die_with_parent()
  logging.get_absl_handler().addFilter(_QuietLibraries())
  compile_cache.enable(compilation_cache)


def _innermost(e: BaseException) -> BaseException:
  """The exception an ml_collections error wraps (KeyError in
  AttributeError in ...)."""
  while e.args and isinstance(e.args[0], BaseException):
    e = e.args[0]
  return e


def config_flag_error(e: BaseException, argv: Sequence[str]) -> str:
  """One line for an error of `--config=FILE[:arg]` and its `--config.a.b=v`
  overrides as `ml_collections.config_flags` raises them while the flags
  are parsed: an override of a field the config does not have, a config
  file that is missing or that rejects its argument."""
  inner = _innermost(e)
  text = str(inner.args[0]) if inner.args else str(inner)
  if isinstance(inner, KeyError):
    m = re.match(r"'([^']+)'(?:\s*Did you mean \"([^\"]+)\")?", text)
    if m:
      key, hint = m.groups()
      overrides = [a.split('=', 1)[0] for a in argv
                   if a.startswith('--config.')]
      flag = next((o for o in overrides if key in o.split('.')[1:]),
                  f'--config.<...>.{key}')
      return (f'{flag}: the config has no field {key!r}'
              + (f' (did you mean {hint!r}?)' if hint else '') + '.')
  if isinstance(inner, OSError) and 'No such file' in text:
    given = next((a.split('=', 1)[1] for a in argv
                  if a.startswith('--config=')), '?')
    return (f'--config={given}: no such config file (expected a file such as '
            'configs/ntm_copy.py, optionally with :arg).')
  return ' '.join(text.split())


def _flag_error(e: BaseException) -> str:
  """absl's flag error in one line: where it quotes a traceback (a config
  file's `get_config` raised), its first line and the exception's."""
  lines = [line for line in str(e).splitlines() if line.strip()]
  if len(lines) > 1 and any(line.startswith('Traceback') for line in lines):
    first = lines[0].replace(' Error whilst parsing config file:', '')
    return f'{first.rstrip(":")}: {lines[-1].strip()}'
  return ' '.join(str(e).split())


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flags; a bad `--config` or override exits with one line.

  For `app.run(main, flags_parser=parse_flags)` in launchers that define
  `--config` with `config_flags.DEFINE_config_file`: an override of a field
  the config does not have, a bad value, a missing config file or one whose
  `get_config` rejects its argument are each reported in one line, without
  a traceback, before anything runs.
  """
  stem = os.path.splitext(os.path.basename(argv[0]))[0] if argv else ''
  name = f'memax.{stem}' if stem in ('main', 'sweep') else 'memax'
  try:
    rest = flags.FLAGS(argv)
    if 'config' in flags.FLAGS:
      # A config file that failed to load raises only when first read.
      getattr(flags.FLAGS['config'].value, 'train', None)
    return rest
  except flags.Error as e:
    message = _flag_error(e)
  except (KeyError, AttributeError, OSError, ValueError, TypeError) as e:
    message = config_flag_error(e, argv)
  print(f'{name}: {message}', file=sys.stderr)
  sys.exit(1)


# What a user can cause and fix: a bad field or file, a busy workdir, a run
# that blew up. They are reported in one message, without a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, workdir.WorkdirLocked,
               FloatingPointError)


def run_or_exit(fn: Callable[..., Any], *args, **kwargs) -> Any:
  """`fn(*args, **kwargs)`; a user error exits with its message alone.

  The traceback goes to the log at DEBUG level (`--verbosity=1` shows it).
  """
  try:
    return fn(*args, **kwargs)
  except USER_ERRORS as e:
    logging.debug('%s', traceback.format_exc())
    print(f'memax: {type(e).__name__}: {e}', file=sys.stderr)
    sys.exit(1)


def run_outputs(workdir: str) -> list[str]:
  """What a finished run left in `workdir`, for its last line:
  'metrics.jsonl', then 'eval/*.json' and 'plots/*.png' where such files
  are (not every task draws plots)."""
  found = ['metrics.jsonl']
  for pattern in ('eval/*.json', 'plots/*.png'):
    if glob.glob(os.path.join(workdir, pattern)):
      found.append(pattern)
  return found
