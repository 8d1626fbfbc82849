"""Test-session settings: a persistent XLA compilation cache.

Training smoke tests build the same small programs many times (a resumed run
compiles what the first run compiled); the on-disk cache turns the repeats
into look-ups, which keeps the suite within its time budget on 2 cores.
"""

import os

import jax

# MEMAX_TEST_CACHE: another directory (an empty one measures cold times).
_CACHE = os.environ.get('MEMAX_TEST_CACHE') or os.path.join(
    os.path.dirname(os.path.dirname(__file__)), '.pytest_cache',
    'jax_compilation_cache')
jax.config.update('jax_compilation_cache_dir', _CACHE)
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
# The suite's time is mostly compilation of small programs that then run for
# milliseconds: LLVM without its expensive passes (-O0) compiles them faster
# (a cold suite 478 s -> 392 s on 2 cores) and gives the same results within
# the tests' tolerances. MEMAX_TEST_OPTIMIZE=1 compiles as training does.
# The tests' subprocesses (launchers, benchmarks) inherit the setting.
if os.environ.get('MEMAX_TEST_OPTIMIZE', '0') in ('', '0'):
  os.environ['JAX_DISABLE_MOST_OPTIMIZATIONS'] = '1'
  jax.config.update('jax_disable_most_optimizations', True)

# Longest first. Under `pytest -n 2` a long test that starts last leaves the
# other core idle until it ends; started first, the short tests fill in
# around it (with `--dist worksteal`, a core that runs out takes pending
# tests from the other). The files whose tests take the longest (training
# runs, subprocess launches) run first, in this order; the rest keep theirs.
_LONGEST_FIRST = (
    'tests/sweep_test.py',
    'tests/training/omniglot_train_test.py',
    'tests/training/dnc_train_test.py',
    'tests/training/distributed_test.py',
    'tests/benchmarks_smoke_test.py',
    'tests/training/babi_train_test.py',
    'tests/training/train_test.py',
    'tests/training/population_test.py',
    'tests/training/evaluate_test.py',
    'tests/notebooks_test.py',
)


def pytest_collection_modifyitems(session, config, items):
  del session
  root = str(config.rootpath)
  rank = {path: i for i, path in enumerate(_LONGEST_FIRST)}
  items.sort(key=lambda item: rank.get(
      os.path.relpath(str(item.path), root), len(rank)))
