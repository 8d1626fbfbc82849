"""XLA compiler settings that a config asks for.

`config.xla_cpu_optimize` (True by default): False compiles with XLA's
backend (LLVM) optimisations off on the CPU backend, as JAX's
`jax_disable_most_optimizations` does. It is a workaround, not a speed
setting: XLA's CPU compiler takes more than 10 minutes on some train chunks
(deepmind/dnc's repeat copy, whose sequences are 9 steps long;
docs/benchmarks.md, "XLA CPU: a slow compile at small sequence lengths"),
which compile in seconds without those passes. In that case the cause is
memax's unrolled threefry (`memax.training.cpu_random`), and
`config.cpu_random_unrolled=False` fixes it with the optimisations on,
about twice as fast a step, so that is the first thing to try. GPU and TPU
runs are left alone. `memax.training.setup` applies it, so a config that needs it runs
with the plain command; the `JAX_DISABLE_MOST_OPTIMIZATIONS=1` environment
variable does the same for every program of a process.
"""

import contextlib
import threading
from typing import Iterator

from absl import logging
import jax
import ml_collections

FIELD = 'xla_cpu_optimize'
_FLAG = 'jax_disable_most_optimizations'
# After this long a compile on the CPU backend gets the hint below.
HINT_AFTER_S = 300.0


def apply(config: ml_collections.ConfigDict) -> bool:
  """Turns XLA's CPU optimisations off where `config.xla_cpu_optimize` is
  False and the backend is the CPU; returns whether they are off.

  The setting is process-wide (JAX's flag) and is never turned back on here:
  a process that set it, or started with the environment variable, keeps it.

  Raises:
    ValueError: the field is not a bool.
  """
  optimize = bool_field(config, FIELD, (
      'True (XLA\'s default optimisations) or False (off on the CPU '
      'backend, a workaround for slow compiles)'))
  if not optimize and jax.default_backend() == 'cpu' and not disabled():
    jax.config.update(_FLAG, True)
    logging.info('config.%s=False: XLA\'s CPU backend optimisations are off '
                 '(jax_disable_most_optimizations).', FIELD)
  return disabled()


def bool_field(config: ml_collections.ConfigDict, field: str,
               expected: str) -> bool:
  """`config.<field>` (True where absent); a ValueError naming it, and
  `expected`, where it is not a bool."""
  value = config.get(field, True)
  if not isinstance(value, bool):
    raise ValueError(f'config.{field}={value!r}: expected {expected}.')
  return value


def disabled() -> bool:
  """Whether this process compiles with XLA's optimisations off."""
  return bool(jax.config.values.get(_FLAG, False))


def hint_message(seconds: float, unrolled_random: bool = True) -> str:
  """The warning for a compile still running after `seconds`: it names
  `config.cpu_random_unrolled` (where the process draws random numbers
  with the unrolled threefry, `unrolled_random`), then
  `config.xla_cpu_optimize` and what turning it off costs."""
  first = ('--config.cpu_random_unrolled=False (JAX\'s own threefry '
           'lowering; the unrolled one was the cause on deepmind/dnc\'s '
           'repeat copy), or else with ' if unrolled_random else '')
  return (f'Still compiling after {seconds:.0f} s. XLA\'s CPU compiler can '
          'take far longer than that on some programs (docs/benchmarks.md, '
          '"XLA CPU: a slow compile at small sequence lengths"); if it does '
          f'not finish, rerun with {first}--config.{FIELD}=False (compiles in '
          'seconds, steps about 2.5x slower).')


@contextlib.contextmanager
def slow_compile_hint(seconds: float = HINT_AFTER_S,
                      unrolled_random: bool = True) -> Iterator[None]:
  """Logs `hint_message` if the block (a compile) outlasts `seconds`, on the
  CPU backend with the optimisations on; nothing otherwise."""
  if jax.default_backend() != 'cpu' or disabled():
    yield
    return
  timer = threading.Timer(seconds, logging.warning,
                          (hint_message(seconds, unrolled_random),))
  timer.daemon = True
  timer.start()
  try:
    yield
  finally:
    timer.cancel()
