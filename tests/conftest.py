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
# The launchers the tests start (memax.main, memax.sweep, memax.evaluate)
# use the same cache, not the user's (~/.cache/memax/jax): a fresh clone's
# suite is cold throughout, and it writes nothing outside the repository.
os.environ['MEMAX_COMPILATION_CACHE'] = _CACHE
# The suite's time is mostly compilation of small programs that then run for
# milliseconds: LLVM without its expensive passes (-O0) compiles them faster
# (a cold suite 478 s -> 392 s on 2 cores) and gives the same results within
# the tests' tolerances. MEMAX_TEST_OPTIMIZE=1 compiles as training does.
# The tests' subprocesses (launchers, benchmarks) inherit the setting.
#
# XLA's CPU fusion emitters (the default since 2025) compile fused loops
# through MLIR; the older LLVM emitters compile the suite's programs in about
# half the time (the NTM's and a two-layer DNC's forward-and-backward
# programs of the sequence model's tests 15 -> 7 s, the Omniglot sampler's
# 4 -> 2 s, on 2 cores) and run them as fast. XLA reads XLA_FLAGS when the
# backend starts (after this file), and the subprocesses inherit it.
if os.environ.get('MEMAX_TEST_OPTIMIZE', '0') in ('', '0'):
  os.environ['JAX_DISABLE_MOST_OPTIMIZATIONS'] = '1'
  jax.config.update('jax_disable_most_optimizations', True)
  os.environ['XLA_FLAGS'] = ' '.join(filter(None, (
      os.environ.get('XLA_FLAGS'), '--xla_cpu_use_fusion_emitters=false')))

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


# MEMAX_TEST_PROFILE=FILE: one JSON line per test with the seconds it spent
# tracing, lowering and compiling in this process (JAX's monitoring events)
# beside its wall time, to see where the suite's time goes. Tests that
# launch subprocesses show their children's work only in the wall time.
_PROFILE = os.environ.get('MEMAX_TEST_PROFILE')
if _PROFILE:
  import json
  import time

  from jax import monitoring

  _EVENTS = {
      '/jax/core/compile/jaxpr_trace_duration': 'trace',
      '/jax/core/compile/jaxpr_to_mlir_module_duration': 'lower',
      '/jax/core/compile/backend_compile_duration': 'compile',
      '/jax/compilation_cache/cache_retrieval_time_sec': 'cache_read',
  }
  _totals = {}

  def _on_duration(event, duration, **kwargs):
    del kwargs
    name = _EVENTS.get(event)
    if name:
      _totals[name] = _totals.get(name, 0.0) + duration
      _totals[name + '_n'] = _totals.get(name + '_n', 0) + 1

  monitoring.register_event_duration_secs_listener(_on_duration)

  import pytest

  @pytest.hookimpl(hookwrapper=True)
  def pytest_runtest_protocol(item, nextitem):
    del nextitem
    _totals.clear()
    start = time.perf_counter()
    yield
    line = {'test': item.nodeid, 'wall': time.perf_counter() - start}
    line.update(_totals)
    with open(_PROFILE, 'a') as f:
      f.write(json.dumps(line) + '\n')
