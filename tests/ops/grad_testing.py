"""Gradient checks for the op tests that compile a few programs, not many."""

import jax
import numpy as np


def check_grads_rev2(fn, args, *, atol, rtol):
  """`check_grads(jax.jit(fn), args, order=2, modes=['rev'])`, 4 programs.

  The same checks: `jax.test_util.check_vjp` of `fn`, then of
  `x -> vjp(fn, x)(fn(x))` (each the VJP's primal output against the
  function, and the VJP's cotangent projection against central finite
  differences along check_vjp's random direction, eps 1e-4). Here each
  function and each VJP is one jitted program; `check_grads` through
  `jax.jit(fn)` compiles a program per stage of each derivative, and
  eager ops between them. The arguments as NumPy arrays: the finite
  differences then add and subtract in NumPy, not in eager JAX ops.
  """
  args = tuple(np.asarray(a) for a in args)

  def second(*primals):
    out, pullback = jax.vjp(fn, *primals)
    return pullback(out)

  for f, msg in ((fn, 'VJP'), (second, 'VJP of VJP')):
    value_and_vjp = jax.jit(lambda primals, ct, f=f: (
        lambda out, pullback: (out, pullback(ct)))(*jax.vjp(f, *primals)))

    def f_vjp(*primals, f=f, value_and_vjp=value_and_vjp):
      zeros = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype),
                           jax.eval_shape(f, *primals))
      return (value_and_vjp(primals, zeros)[0],
              lambda ct: value_and_vjp(primals, ct)[1])

    jax.test_util.check_vjp(jax.jit(f), f_vjp, args, atol=atol, rtol=rtol,
                            err_msg=msg)
