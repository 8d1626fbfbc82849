"""Helpers for tests that need more devices (or processes) than the test
process has."""

import os
import socket
import subprocess
import sys
import tempfile
import time

import jax

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def run_together(test, commands: list[list[str]], *, timeout: int = 600
                 ) -> list[str]:
  """Runs `commands` at once from the repository root (processes that wait
  for each other, e.g. one run's processes); fails `test` if any exits
  nonzero (the others are then killed) or runs past `timeout` seconds,
  with its standard error. Returns their standard outputs.
  """
  with tempfile.TemporaryDirectory() as tmp:
    procs, files = [], []
    for i, command in enumerate(commands):
      out = open(os.path.join(tmp, f'{i}.out'), 'w+')  # pylint: disable=consider-using-with
      err = open(os.path.join(tmp, f'{i}.err'), 'w+')  # pylint: disable=consider-using-with
      files.append((out, err))
      procs.append(subprocess.Popen(command, cwd=_ROOT, stdout=out,
                                    stderr=err, text=True))
    try:
      deadline = time.time() + timeout
      # One that fails ends the others (which may wait for it forever).
      while (any(p.poll() is None for p in procs)
             and not any(p.poll() for p in procs)
             and time.time() < deadline):
        time.sleep(0.1)
      codes = [p.poll() for p in procs]
    finally:
      for p in procs:
        if p.poll() is None:
          p.kill()
          p.wait()
    texts = []
    for out, err in files:
      out.seek(0)
      err.seek(0)
      texts.append((out.read(), err.read()))
      out.close()
      err.close()
  # The first that failed, else the first still running (None) at the end.
  for i in sorted(range(len(codes)), key=lambda i: codes[i] is None):
    test.assertEqual(codes[i], 0, f'process {i} of {len(codes)} (exit '
                     f'{codes[i]}): {texts[i][1][-3000:]}')
  return [out for out, _ in texts]


def run_script(test, script: str) -> str:
  """Runs `script` in a fresh Python (it sets up its own CPU devices before
  JAX starts) from the repository root; fails `test` on a nonzero exit.

  The script gets the suite's compilation cache directory as `sys.argv[1]`
  when there is one. Returns its standard output.
  """
  cache = jax.config.jax_compilation_cache_dir
  return run_together(test, [[sys.executable, '-c', script]
                             + ([cache] if cache else [])])[0]


def free_port() -> int:
  """A TCP port on 127.0.0.1 that nothing listens on now."""
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]
