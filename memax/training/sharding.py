"""Devices: CPU host devices; data parallelism over a batch axis, and a
population's members over a member axis.

With many processes (`memax.training.distributed`), `num_devices` counts the
devices of each process and the mesh spans every process's: the batch (or
the members) is split over `num_processes * num_devices` devices.
"""

from typing import Any

import jax
import numpy as np

BATCH_AXIS = 'batch'
MEMBER_AXIS = 'member'


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


def _devices(num_devices: int) -> list[Any]:
  """The run's devices: the first `num_devices` of each process, in the
  order of the processes (one process: its first `num_devices`)."""
  if (isinstance(num_devices, bool) or not isinstance(num_devices, int)
      or num_devices < 1):
    raise ValueError('config.train.num_devices must be a positive integer, '
                     f'got {num_devices!r}.')
  local = jax.local_devices()
  if len(local) < num_devices:
    where = ('JAX has' if jax.process_count() == 1 else
             f'process {jax.process_index()} of {jax.process_count()} has')
    raise ValueError(
        f'config.train.num_devices={num_devices} (devices per process) but '
        f'{where} {len(local)} device(s): {local}. On a CPU, launch through '
        'memax.main (or call memax.training.sharding.use_cpu_devices first).')
  if jax.process_count() == 1:
    return local[:num_devices]
  by_process = {}
  for device in jax.devices():
    by_process.setdefault(device.process_index, []).append(device)
  return [d for p in sorted(by_process) for d in by_process[p][:num_devices]]


def _count(num_devices: int, devices: list[Any]) -> str:
  """`config.train.num_devices=N`, with the mesh's size over processes."""
  text = f'config.train.num_devices={num_devices}'
  if jax.process_count() > 1:
    text += (f' on each of {jax.process_count()} processes ({len(devices)} '
             'devices)')
  return text


def _replicated_and_split(devices: list[Any], axis: str) -> tuple[Any, Any]:
  """Shardings over a 1-D mesh of `devices`: replicated, and split on the
  leading axis (named `axis`)."""
  mesh = jax.sharding.Mesh(np.array(devices), (axis,))
  spec = jax.sharding.PartitionSpec
  return (jax.sharding.NamedSharding(mesh, spec()),
          jax.sharding.NamedSharding(mesh, spec(axis)))


def member_parallel(num_devices: int, num_members: int
                    ) -> tuple[Any, Any]:
  """Shardings `(replicated, members)` to split a population over devices.

  `(None, None)` for one device. Otherwise each of the run's devices (the
  first `num_devices` of each process) trains the same number of members
  (their states and keys split on the leading member axis), and the task's
  data is replicated. Members never exchange anything, so each device runs its
  members' steps alone.

  Raises:
    ValueError: naming `config.train.num_devices` when there are fewer
      devices, or when it does not divide the number of members.
  """
  devices = _devices(num_devices)
  if len(devices) == 1:
    return None, None
  if num_members % len(devices):
    raise ValueError(
        f'{_count(num_devices, devices)} must divide the '
        f'population\'s {num_members} members (config.population.seeds and '
        '.sweep): each device trains the same number of them.')
  return _replicated_and_split(devices, MEMBER_AXIS)


def data_parallel(num_devices: int, batch_size: int
                  ) -> tuple[Any, Any]:
  """Shardings `(replicated, batch)` to split batches over devices.

  `(None, None)` for one device. Otherwise the parameters and optimiser
  state are replicated over the run's devices (the first `num_devices` of
  each process), each of which takes `batch_size / (number of devices)`
  examples; XLA sums the gradients (across processes too).

  Raises:
    ValueError: naming `config.train.num_devices` when there are fewer
      devices, or when the run's devices do not divide
      `config.train.batch_size`.
  """
  devices = _devices(num_devices)
  if len(devices) == 1:
    return None, None
  if batch_size % len(devices):
    raise ValueError(
        f'{_count(num_devices, devices)} must divide '
        f'config.train.batch_size={batch_size}.')
  return _replicated_and_split(devices, BATCH_AXIS)
