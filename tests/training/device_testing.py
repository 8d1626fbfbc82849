"""Helpers for tests that need more devices than the test process has."""

import os
import subprocess
import sys

import jax

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def run_script(test, script: str) -> str:
  """Runs `script` in a fresh Python (it sets up its own CPU devices before
  JAX starts) from the repository root; fails `test` on a nonzero exit.

  The script gets the suite's compilation cache directory as `sys.argv[1]`
  when there is one. Returns its standard output.
  """
  cache = jax.config.jax_compilation_cache_dir
  proc = subprocess.run([sys.executable, '-c', script]
                        + ([cache] if cache else []),
                        cwd=_ROOT, capture_output=True, text=True,
                        timeout=600, check=False)
  test.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
  return proc.stdout
