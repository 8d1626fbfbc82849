"""What the command-line entry points share: quiet logs and the compile cache."""

import logging as py_logging
import os
import signal
import sys
import traceback
from typing import Any, Callable

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
