"""Random numbers on XLA's CPU backend without a loop: the same bits, sooner.

Every `jax.random` draw is JAX's threefry2x32 hash (Salmon et al. 2011,
"Parallel random numbers: as easy as 1, 2, 3": 20 rounds of add, rotate and
xor on two 32-bit words, with the key injected every 4 rounds). On CPU, JAX
lowers it as a loop of 5 iterations of 4 rounds, to keep compile times
short; on other backends it emits the 20 rounds straight. Inside a compiled
training step the loop runs as a dozen small kernels per draw (its body,
condition and counter), and on a step of about a millisecond that shows:
MemN2N's random-noise draw on joint bAbI cost 8 % of the step.

`enable()` lowers the hash on CPU as the 20 rounds in a row, which XLA fuses
into one elementwise kernel. The hash is the same function, so every random
number is unchanged, bit for bit (tested against a NumPy threefry2x32 that
reproduces the paper's known-answer vectors). `memax.training.setup` calls it
(`apply`) unless `config.cpu_random_unrolled` is False; code that uses
memax's ops in its own training loop may call it too.

The unrolled hash can make XLA's CPU compiler take more than 10 minutes on
some programs with the optimisations on: deepmind/dnc's repeat copy (the
DNC, batches of 16, 9-step sequences sampled inside a train chunk of two or
more steps), which compiles in about 13 s with JAX's own lowering
(docs/benchmarks.md, "XLA CPU: a slow compile at small sequence lengths").
Such a config sets `cpu_random_unrolled = False`.
"""

import threading

from absl import logging
import jax.numpy as jnp
import numpy as np

from memax.training import compiler

# Rotation distances of Threefry-2x32, rounds 1-4 and 5-8 (then repeating).
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)  # the key schedule's constant

_lock = threading.Lock()
_enabled = False
FIELD = 'cpu_random_unrolled'


def threefry2x32(key0, key1, count0, count1):
  """Threefry-2x32 with 20 rounds, written out (no loop).

  All four arguments are uint32 arrays of broadcastable shapes; returns the
  two output words.
  """
  shape = jnp.broadcast_shapes(*(jnp.shape(a) for a in (key0, key1, count0,
                                                        count1)))
  keys = (key0, key1, key0 ^ key1 ^ _PARITY)
  x0 = jnp.broadcast_to(count0 + keys[0], shape)
  x1 = jnp.broadcast_to(count1 + keys[1], shape)
  for injection in range(1, 6):  # five groups of four rounds
    for r in _ROTATIONS[(injection - 1) % 2]:
      x0 = x0 + x1
      x1 = (x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r))
      x1 = x1 ^ x0
    x0 = x0 + keys[injection % 3]
    x1 = x1 + keys[(injection + 1) % 3] + np.uint32(injection)
  return x0, x1


def enable() -> bool:
  """Lowers threefry2x32 on CPU without its loop; returns whether it is.

  Idempotent. Programs compiled before the call keep the loop (they compute
  the same numbers). If this JAX has no public threefry primitive, nothing
  changes and a warning says so.
  """
  global _enabled
  with _lock:
    if _enabled:
      return True
    try:
      from jax.extend import random as jax_random  # pylint: disable=g-import-not-at-top
      from jax.interpreters import mlir  # pylint: disable=g-import-not-at-top
      primitive = jax_random.threefry2x32_p
      rule = mlir.lower_fun(threefry2x32, multiple_results=True)
      mlir.register_lowering(primitive, rule, platform='cpu')
    except (ImportError, AttributeError) as e:
      logging.warning('Threefry keeps its looped CPU lowering (%s); random '
                      'numbers are the same, only slower to draw.', e)
      return False
    _enabled = True
    return True


def enabled() -> bool:
  """Whether this process lowers threefry unrolled (`enable()` ran)."""
  return _enabled


def apply(config) -> bool:
  """`enable()` unless `config.cpu_random_unrolled` (True by default) is
  False; returns whether threefry is lowered unrolled in this process.

  The lowering is process-wide and is never turned back: where an earlier
  setup of this process enabled it, a config that asks for JAX's lowering
  still gets the unrolled one (the same numbers), and a warning says so.

  Raises:
    ValueError: the field is not a bool.
  """
  unrolled = compiler.bool_field(config, FIELD, (
      'True (threefry on the CPU as 20 rounds in a row, memax\'s default) '
      'or False (JAX\'s looped lowering, for programs that compile slowly '
      'with the unrolled one)'))
  if unrolled:
    return enable()
  if _enabled:
    logging.warning('config.%s=False, but this process already lowers '
                    'threefry unrolled (an earlier setup); it stays so.',
                    FIELD)
  return _enabled
