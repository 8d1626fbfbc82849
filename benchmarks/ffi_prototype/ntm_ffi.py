"""The C++ NTM memory step (`ntm_step.cc`) as a JAX op with a custom VJP.

A feasibility prototype, not part of memax (see README.md). Importing this
module compiles `ntm_step.cc` with the system's g++ (once; the library goes
next to it) and registers the two FFI targets.
"""

import ctypes
import os
import subprocess

import jax

_DIR = os.path.dirname(os.path.abspath(__file__))
_SRC = os.path.join(_DIR, 'ntm_step.cc')
_LIB = os.path.join(_DIR, 'libntm_step.so')


def build() -> str:
  """Compiles the kernels unless the library is newer than the source."""
  if (not os.path.exists(_LIB)
      or os.path.getmtime(_LIB) < os.path.getmtime(_SRC)):
    # -ffast-math (without -fno-finite-math-only) lets GCC call glibc's
    # vector exp and log.
    subprocess.run(['g++', '-w', '-O3', '-march=native', '-ffast-math', '-shared',
                    '-fPIC', '-std=c++17', '-I', jax.ffi.include_dir(), _SRC,
                    '-o', _LIB], check=True)
  return _LIB


_lib = ctypes.cdll.LoadLibrary(build())
jax.ffi.register_ffi_target('ntm_step_fwd',
                            jax.ffi.pycapsule(_lib.NtmStepFwd), platform='cpu')
jax.ffi.register_ffi_target('ntm_step_bwd',
                            jax.ffi.pycapsule(_lib.NtmStepBwd), platform='cpu')
jax.ffi.register_ffi_target('ntm_step_raw_fwd',
                            jax.ffi.pycapsule(_lib.NtmStepRawFwd),
                            platform='cpu')
jax.ffi.register_ffi_target('ntm_step_raw_bwd',
                            jax.ffi.pycapsule(_lib.NtmStepRawBwd),
                            platform='cpu')
# Every operand and result has the batch as its leading axis: with the batch
# split over devices (train.num_devices), each device runs its own share.
for _name in ('ntm_step_fwd', 'ntm_step_bwd', 'ntm_step_raw_fwd',
              'ntm_step_raw_bwd'):
  jax.ffi.register_ffi_target_as_batch_partitionable(_name)


def _like(x):
  return jax.ShapeDtypeStruct(x.shape, x.dtype)


def _forward(*args, target='ntm_step_fwd'):
  memory, write_prev, read_prev = args[:3]
  batch, _, word = memory.shape
  outs = (_like(memory), _like(write_prev), _like(read_prev),
          jax.ShapeDtypeStruct((batch, word), memory.dtype))
  return tuple(jax.ffi.ffi_call(target, outs,
                                vmap_method='sequential')(*args))


@jax.custom_vjp
def ntm_step(memory, write_prev, read_prev, kw, bw, gw, sw, yw, erase, add,
             kr, br, gr, sr, yr):
  """Batched NTM step: returns `(memory', write_w, read_w, read_vector)`.

  `memory [B, N, W]`, previous weights `[B, N]`; per head: key `[B, W]`,
  strength, gate and gamma `[B]`, shift `[B, 2r+1]` (activated, as
  `memax.ops.address` takes them); `erase`, `add` `[B, W]`.
  """
  return _forward(memory, write_prev, read_prev, kw, bw, gw, sw, yw, erase,
                  add, kr, br, gr, sr, yr)


def _fwd(*args):
  return _forward(*args), args


def _bwd(args, cotangents):
  outs = tuple(_like(x) for x in args)
  return tuple(jax.ffi.ffi_call('ntm_step_bwd', outs,
                                vmap_method='sequential')(*args, *cotangents))


ntm_step.defvjp(_fwd, _bwd)


@jax.custom_vjp
def ntm_step_raw(memory, write_prev, read_prev, raw):
  """The same step from the cell's clipped interface vector `raw [B, P]`.

  `raw` holds the read head's `key W | strength | gate | shift 2r+1 | gamma`
  and then the write head's, followed by its `erase W | add W`, before
  activation (as `NTMCell._split_heads` takes it); the activations
  (oneplus, sigmoid, softmax, tanh) run inside the kernels.
  """
  return _forward(memory, write_prev, read_prev, raw,
                  target='ntm_step_raw_fwd')


def _raw_fwd(*args):
  return _forward(*args, target='ntm_step_raw_fwd'), args


def _raw_bwd(args, cotangents):
  outs = tuple(_like(x) for x in args)
  return tuple(jax.ffi.ffi_call('ntm_step_raw_bwd', outs,
                                vmap_method='sequential')(*args, *cotangents))


ntm_step_raw.defvjp(_raw_fwd, _raw_bwd)
