"""What the command-line entry points share: quiet logs and the compile cache."""

import logging as py_logging

from absl import logging

from memax.training import compile_cache


class _QuietLibraries(py_logging.Filter):
  """Drops the INFO chatter of orbax and absl-logging libraries."""

  def filter(self, record: py_logging.LogRecord) -> bool:
    if not ('orbax' in record.pathname or 'etils' in record.pathname):
      return True
    if record.levelno >= py_logging.WARNING:
      # Opening checkpoints to read them is not worth a warning.
      return 'read only' not in str(record.msg)
    return False


def start(compilation_cache: str | None = 'auto') -> None:
  """Quiets library logs and turns on the persistent compilation cache."""
  logging.get_absl_handler().addFilter(_QuietLibraries())
  compile_cache.enable(compilation_cache)
