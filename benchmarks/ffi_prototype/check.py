"""Checks the C++ step against the composition of memax.ops: values and all
15 gradients (random inputs, a random cotangent). Exits 1 on a mismatch.

  .venv/bin/python benchmarks/ffi_prototype/check.py
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(os.path.dirname(_HERE)), _HERE]

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

from memax import ops  # pylint: disable=g-import-not-at-top
import ntm_ffi  # pylint: disable=g-import-not-at-top

NAMES = ('memory write_prev read_prev kw bw gw sw yw erase add kr br gr sr '
         'yr').split()


def reference(memory, write_prev, read_prev, kw, bw, gw, sw, yw, erase, add,
              kr, br, gr, sr, yr):
  """The same step from memax.ops (the NTM cell's write-first order)."""
  def one(m, wp, rp, kw, bw, gw, sw, yw, e, a, kr, br, gr, sr, yr):
    ww = ops.address(m, wp, kw, bw, gw, sw, yw)
    m2 = ops.write(m, ww, e, a)
    rw = ops.address(m2, rp, kr, br, gr, sr, yr)
    return m2, ww, rw, ops.read(m2, rw)
  return jax.vmap(one)(memory, write_prev, read_prev, kw, bw, gw, sw, yw,
                       erase, add, kr, br, gr, sr, yr)


def random_inputs(key, batch=3, slots=16, word=5, shifts=3):
  ks = iter(jax.random.split(key, 16))
  normal = lambda *shape: jax.random.normal(next(ks), shape)
  uniform = lambda *shape: jax.random.uniform(next(ks), shape)
  weights = lambda: jax.nn.softmax(normal(batch, slots))
  head = lambda: (normal(batch, word), 1 + 5 * uniform(batch),
                  uniform(batch), jax.nn.softmax(normal(batch, shifts)),
                  1 + 3 * uniform(batch))
  memory = normal(batch, slots, word)
  write_prev, read_prev = weights(), weights()
  write_head = head()
  erase = jax.nn.sigmoid(normal(batch, word))
  add = jnp.tanh(normal(batch, word))
  return (memory, write_prev, read_prev, *write_head, erase, add, *head())


def reference_raw(memory, write_prev, read_prev, raw, shifts=3):
  """`reference` from the raw interface vector (NTMCell's activations)."""
  word = memory.shape[-1]
  def head(x):
    return (x[:, :word], ops.oneplus(x[:, word]),
            jax.nn.sigmoid(x[:, word + 1]),
            jax.nn.softmax(x[:, word + 2:word + 2 + shifts], axis=-1),
            ops.oneplus(x[:, word + 2 + shifts]))
  size = word + 3 + shifts
  read, write = raw[:, :size], raw[:, size:]
  erase = jax.nn.sigmoid(write[:, size:size + word])
  add = jnp.tanh(write[:, size + word:])
  return reference(memory, write_prev, read_prev, *head(write), erase, add,
                   *head(read))


def compare(name, ref_fn, cpp_fn, args, names):
  """Prints and returns the worst forward and gradient differences."""
  worst = 0.0
  outs = ref_fn(*args)
  for x, y in zip(outs, cpp_fn(*args)):
    worst = max(worst, float(jnp.max(jnp.abs(x - y))))
  cts = [jax.random.normal(k, o.shape)
         for k, o in zip(jax.random.split(jax.random.key(1), 4), outs)]
  def loss(f):
    return lambda *a: sum(jnp.sum(c * o) for c, o in zip(cts, f(*a)))
  argnums = tuple(range(len(args)))
  g_ref = jax.grad(loss(ref_fn), argnums)(*args)
  g_cpp = jax.jit(jax.grad(loss(cpp_fn), argnums))(*args)
  rel = {n: float(jnp.max(jnp.abs(a - b)) / (jnp.max(jnp.abs(a)) + 1e-12))
         for n, a, b in zip(names, g_ref, g_cpp)}
  print(f'{name}: forward max abs difference {worst:.2e}; gradients, max '
        'relative difference per input:',
        ' '.join(f'{n} {v:.1e}' for n, v in rel.items()))
  return worst, max(rel.values())


def main() -> int:
  args = random_inputs(jax.random.key(0))
  results = [compare('activated', reference, ntm_ffi.ntm_step, args, NAMES)]
  memory, write_prev, read_prev = args[:3]
  raw = 2.0 * jax.random.normal(jax.random.key(2),
                                (memory.shape[0], 4 * 5 + 6 + 2 * 3))
  results.append(compare('raw', reference_raw, ntm_ffi.ntm_step_raw,
                         (memory, write_prev, read_prev, raw),
                         ('memory', 'write_prev', 'read_prev', 'raw')))
  ok = all(f < 1e-5 and g < 1e-4 for f, g in results)
  print('OK' if ok else 'MISMATCH')
  return 0 if ok else 1


if __name__ == '__main__':
  sys.exit(main())
