"""Devices: CPU host devices and data parallelism over a batch axis."""

from typing import Any

import jax
import numpy as np

BATCH_AXIS = 'batch'


def use_cpu_devices(num_devices: int) -> None:
  """Makes the CPU backend expose `num_devices` host devices.

  Data parallelism on a CPU (`config.train.num_devices > 1`) needs this
  before JAX first touches a device (the launcher calls it).
  """
  if num_devices <= 1 or jax.config.jax_platforms not in (None, '', 'cpu'):
    return
  try:
    jax.config.update('jax_num_cpu_devices', num_devices)
  except RuntimeError as e:  # the backend already exists.
    if len(jax.devices()) < num_devices:
      raise ValueError(
          f'config.train.num_devices={num_devices} but JAX already started '
          f'with {len(jax.devices())} device(s); call '
          'memax.training.sharding.use_cpu_devices before using JAX.') from e


def data_parallel(num_devices: int, batch_size: int
                  ) -> tuple[Any, Any]:
  """Shardings `(replicated, batch)` to split batches over devices.

  `(None, None)` for one device. Otherwise the parameters and optimiser
  state are replicated over the first `num_devices` devices, each of which
  takes `batch_size / num_devices` examples; XLA sums the gradients.

  Raises:
    ValueError: naming `config.train.num_devices` when there are fewer
      devices, or when it does not divide `config.train.batch_size`.
  """
  if (isinstance(num_devices, bool) or not isinstance(num_devices, int)
      or num_devices < 1):
    raise ValueError('config.train.num_devices must be a positive integer, '
                     f'got {num_devices!r}.')
  if num_devices == 1:
    return None, None
  devices = jax.devices()
  if len(devices) < num_devices:
    raise ValueError(
        f'config.train.num_devices={num_devices} but JAX has '
        f'{len(devices)} device(s): {devices}. On a CPU, launch through '
        'memax.main (or call memax.training.sharding.use_cpu_devices first).')
  if batch_size % num_devices:
    raise ValueError(
        f'config.train.num_devices={num_devices} must divide '
        f'config.train.batch_size={batch_size}.')
  mesh = jax.sharding.Mesh(np.array(devices[:num_devices]), (BATCH_AXIS,))
  spec = jax.sharding.PartitionSpec
  return (jax.sharding.NamedSharding(mesh, spec()),
          jax.sharding.NamedSharding(mesh, spec(BATCH_AXIS)))
