"""Many processes (hosts) training one run, through `jax.distributed`.

Design:

- **Launch.** The same command runs on every host, with the coordinator's
  address (process 0's `host:port`), the number of processes and this
  process's id, from the launchers' flags (`--coordinator_address`,
  `--num_processes`, `--process_id`) or, for a flag not given, the
  environment (`MEMAX_COORDINATOR_ADDRESS`, `MEMAX_NUM_PROCESSES`,
  `MEMAX_PROCESS_ID`). `--coordinator_address=auto` asks JAX to detect its
  cluster (SLURM, Open MPI, TPU pods; the other two values may then be left
  out). None of them given: one process, and nothing here runs. The values
  are checked (an error naming the flag or the variable) before anything
  else, and `initialize` runs before any JAX computation. On CPUs, processes
  exchange gradients through gloo (`jax_cpu_collectives_implementation`).
- **Devices and batch.** `config.train.num_devices` is the number of devices
  of *each* process (its first local devices); the mesh spans all of them,
  `num_processes * num_devices` devices, in the order of the processes.
  `config.train.batch_size` is the *global* batch, split over every device
  of the mesh. The same config thus trains the same model (the same numbers,
  to float rounding) on one process or on several: a config's meaning does
  not depend on where it runs, and one host's config runs on N hosts as it
  is, N times faster.
- **One program.** Every process runs the same steps in the same order: the
  setup, the jitted train chunks on the global mesh (their batches are
  sampled on the devices from the replicated key; host data, bAbI's arrays,
  is placed on each process's devices from its own copy: `put`), the reads
  of metrics to the host (`host`), the evaluations and what they decide
  (stopping, the best checkpoint, linear start). An evaluation runs on each
  process's own replica of the parameters, on its first local device
  (`local`): it exchanges nothing between hosts, and every process gets the
  same numbers, so they take the same decisions.
- **Files.** Process 0 writes every file of the workdir: `config.json`,
  `metrics.jsonl`, TensorBoard, plots, `eval/*.json`, `stopped.json`, the
  lock, a moved unreadable checkpoint; the other processes write none and
  only read (resume, `config.json`). Checkpoints are the exception, as orbax
  requires: every process calls save and restore (orbax synchronises them;
  process 0, its primary host, writes the metadata and each process the
  array shards it holds), so a run resumes on any number of processes, and
  a single process reads them. The workdir must be on a filesystem every
  process sees.
"""

import os
from typing import Any, NamedTuple

from absl import flags
from absl import logging
import jax
from jax.experimental import multihost_utils

AUTO = 'auto'
ENV = {'coordinator_address': 'MEMAX_COORDINATOR_ADDRESS',
       'num_processes': 'MEMAX_NUM_PROCESSES',
       'process_id': 'MEMAX_PROCESS_ID'}


class Processes(NamedTuple):
  """A checked distributed setting.

  Attributes:
    coordinator_address: process 0's `host:port`, or `'auto'` (JAX detects
      the cluster).
    num_processes: the number of processes (None: detected).
    process_id: this process's index (None: detected).
  """

  coordinator_address: str
  num_processes: int | None
  process_id: int | None

  def launcher_flags(self, port_offset: int = 0) -> list[str]:
    """The launchers' flags for this setting, the coordinator's port moved
    up by `port_offset` (the sweep runner gives each trial its own)."""
    address = self.coordinator_address
    if address != AUTO and port_offset:
      host, _, port = address.rpartition(':')
      address = f'{host}:{int(port) + port_offset}'
    out = [f'--coordinator_address={address}']
    if self.num_processes is not None:
      out.append(f'--num_processes={self.num_processes}')
    if self.process_id is not None:
      out.append(f'--process_id={self.process_id}')
    return out


def define_flags() -> tuple[Any, Any, Any]:
  """Defines `--coordinator_address`, `--num_processes`, `--process_id`.

  For the launchers' main modules; returns their flag holders, in that
  order (pass their values to `initialize` or `resolve`).
  """
  return (
      flags.DEFINE_string(
          'coordinator_address', None,
          'Many hosts: host:port of process 0, the same on every process, '
          f'or "{AUTO}" to let JAX detect the cluster (SLURM, Open MPI). '
          f'Default: ${ENV["coordinator_address"]}; unset: one process.'),
      flags.DEFINE_integer(
          'num_processes', None,
          'Many hosts: the number of processes. Default: '
          f'${ENV["num_processes"]}.'),
      flags.DEFINE_integer(
          'process_id', None,
          'Many hosts: this process\'s index, 0 to num_processes - 1 (0 '
          f'writes the files). Default: ${ENV["process_id"]}.'))


def _value(name: str, given: Any, environ: dict[str, str]
           ) -> tuple[Any, str]:
  """`(value, where it came from)`: the flag if given, else the variable."""
  if given is not None:
    return given, f'--{name}'
  text = environ.get(ENV[name], '').strip()
  where = f'${ENV[name]}'
  if not text:
    return None, where
  if name == 'coordinator_address':
    return text, where
  try:
    return int(text), where
  except ValueError:
    raise ValueError(f'{where}={text!r}: expected an integer.') from None


def _check_address(address: str, where: str) -> None:
  host, sep, port = address.rpartition(':')
  if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
    raise ValueError(
        f'{where}={address!r}: expected host:port of process 0 (e.g. '
        f'10.0.0.1:12345, the same on every process), or "{AUTO}".')


def resolve(coordinator_address: str | None = None,
            num_processes: int | None = None,
            process_id: int | None = None, *,
            environ: dict[str, str] | None = None) -> Processes | None:
  """The distributed setting of the flags and the environment, checked.

  Each argument is a flag's value (None: not given); a value not given is
  read from its `MEMAX_*` variable. Starts nothing.

  Returns:
    None for one process (nothing given, or only `num_processes=1` and
    `process_id=0`), else the `Processes`.

  Raises:
    ValueError: naming the flag or variable whose value is wrong or missing.
  """
  environ = os.environ if environ is None else environ
  address, a_where = _value('coordinator_address', coordinator_address,
                            environ)
  num, n_where = _value('num_processes', num_processes, environ)
  pid, p_where = _value('process_id', process_id, environ)
  if num is not None and num < 1:
    raise ValueError(f'{n_where}={num}: expected a positive number of '
                     'processes.')
  if pid is not None and pid < 0:
    raise ValueError(f'{p_where}={pid}: expected 0 to num_processes - 1.')
  if num is not None and pid is not None and pid >= num:
    raise ValueError(f'{p_where}={pid} with {n_where}={num}: expected a '
                     f'process id from 0 to {num - 1}.')
  address = (address or '').strip() or None
  if address is None:
    if (num or 1) == 1 and (pid or 0) == 0:
      return None
    given = n_where if (num or 1) > 1 else p_where
    raise ValueError(
        f'{given} needs --coordinator_address (or ${ENV["coordinator_address"]}'
        f'): host:port of process 0, or "{AUTO}".')
  if address.lower() == AUTO:
    return Processes(AUTO, num, pid)
  _check_address(address, a_where)
  for value, name in ((num, 'num_processes'), (pid, 'process_id')):
    if value is None:
      raise ValueError(
          f'{a_where}={address!r} needs --{name} (or ${ENV[name]}); '
          f'"{AUTO}" detects both.')
  return Processes(address, num, pid)


def initialize(coordinator_address: str | None = None,
               num_processes: int | None = None,
               process_id: int | None = None) -> Processes | None:
  """Joins this process to its run's processes (`resolve`'s setting).

  Must be called before any JAX computation (the launchers call it first);
  it starts no backend itself, so the CPU's device count can still be set
  after it (`sharding.use_cpu_devices`). Does nothing for one process. On CPUs, processes exchange data through
  gloo unless `JAX_CPU_COLLECTIVES_IMPLEMENTATION` names another
  implementation.

  Returns:
    The `Processes`, or None for one process.

  Raises:
    ValueError: a bad or missing value (see `resolve`), checked before
      anything starts; or JAX has already computed something.
  """
  processes = resolve(coordinator_address, num_processes, process_id)
  if processes is None:
    return None
  if not os.environ.get('JAX_CPU_COLLECTIVES_IMPLEMENTATION'):
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  auto = processes.coordinator_address == AUTO
  if auto:
    logging.info('Joining the processes of the cluster JAX detects.')
  else:
    logging.info('Joining %s as process %d of %d.',
                 processes.coordinator_address, processes.process_id,
                 processes.num_processes)
  try:
    jax.distributed.initialize(
        coordinator_address=None if auto else processes.coordinator_address,
        num_processes=processes.num_processes,
        process_id=processes.process_id)
  except RuntimeError as e:
    if 'must be called before' not in str(e):
      raise
    raise ValueError('--coordinator_address: jax.distributed must start '
                     'before JAX uses a device; call '
                     'memax.training.distributed.initialize first.') from e
  except ValueError as e:
    if not auto:
      raise
    raise ValueError(f'--coordinator_address={AUTO}: JAX detected no cluster '
                     f'(SLURM, Open MPI, a TPU pod) to join ({e}); give '
                     'host:port, --num_processes and --process_id.') from e
  return processes


def shutdown() -> None:
  """Leaves the run's processes (waits for all of them) if it joined."""
  if jax.distributed.is_initialized():
    jax.distributed.shutdown()


def barrier(name: str) -> None:
  """Waits until every process has reached `barrier(name)` (one process:
  returns at once)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def is_main_process() -> bool:
  """Whether this process writes the files (process 0; any single one)."""
  return jax.process_index() == 0


# ---- arrays across processes --------------------------------------------


def _put_one(x: Any, sharding: Any) -> Any:
  if isinstance(x, jax.Array) and not x.is_fully_addressable:
    if x.sharding.is_equivalent_to(sharding, x.ndim):
      return x
    return jax.jit(lambda y: y, out_shardings=sharding)(x)
  # A value every process holds the same: each places its devices' parts.
  shards = [jax.device_put(x[index], device) for device, index in
            sharding.addressable_devices_indices_map(x.shape).items()]
  return jax.make_array_from_single_device_arrays(x.shape, sharding, shards)


def put(tree: Any, sharding: Any) -> Any:
  """`jax.device_put(tree, sharding)`, also for a mesh over many processes.

  Every process passes the same values (host arrays, or arrays on its own
  devices); each places the parts its devices hold, without exchanging
  anything. Arrays already spread over the processes are resharded.
  """
  if sharding.is_fully_addressable:
    return jax.device_put(tree, sharding)
  return jax.tree.map(lambda x: _put_one(x, sharding), tree)


def host(tree: Any) -> Any:
  """`jax.device_get(tree)`, also for arrays spread over many processes.

  Arrays split over processes (a population's members) are gathered: every
  process must call this on the same trees, in the same order.
  """
  def gather(x):
    if (isinstance(x, jax.Array) and not x.is_fully_addressable
        and not x.is_fully_replicated):
      return multihost_utils.process_allgather(x, tiled=True)
    return x
  return jax.device_get(jax.tree.map(gather, tree))


def local(tree: Any) -> Any:
  """`tree` on this process alone: its replica of each array.

  A replicated array over many processes becomes its copy on this
  process's first device; an array split over processes is gathered (see
  `host`); anything else is returned as it is (one process).
  """
  def one(x):
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
      return x
    if x.is_fully_replicated:
      return x.addressable_data(0)
    return multihost_utils.process_allgather(x, tiled=True)
  return jax.tree.map(one, tree)
