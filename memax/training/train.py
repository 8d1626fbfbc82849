"""Training: the loop around the jitted train step.

`train_and_evaluate(config, workdir)` builds everything through
`setup.setup(config)` (every check before the workdir is touched), locks the
workdir, resumes from its newest readable checkpoint, and calls a jitted chunk
of `steps_per_call` steps (a `lax.scan` of the pure step), syncing with the
host only to log, save and evaluate. A population (`config.population`) is
the same loop over a state with a leading member axis: one compiled
`jit(vmap(...))`, per-member metrics, evaluation and stopping.
"""

import contextlib
import json
import os
import time
from typing import Any, Sequence

from absl import logging
import jax
import ml_collections
import numpy as np

from memax.training import checkpoint
from memax.training import compiler
from memax.training import cpu_random
from memax.training import distributed
from memax.training import evaluate as evaluate_lib
from memax.training import guards
from memax.training import linear_start
from memax.training import population
from memax.training import setup as setup_lib
from memax.training import workdir as workdir_lib
from memax.training import writers
from memax.training.step import TrainState


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str) -> dict[str, Any]:
  """Trains from `config` in `workdir` (resuming if it holds a checkpoint).

  Every check runs before the workdir is created or changed. The workdir is
  locked while the run lives (a second process on it is refused). Writes
  `config.json` (the config that runs: epochs resolved into steps),
  `metrics.jsonl`, TensorBoard events, `checkpoints/`, the best checkpoint
  by the evaluation metric in `checkpoint_best/`, and at the end
  `eval/*.json` and `plots/*.png` (a population: `eval/member<i>/` and the
  plots of `config.population.plot_member`). A re-launch of a finished run
  returns its recorded results and changes nothing. With many processes
  (`memax.training.distributed`), every process calls this with the same
  config and workdir; process 0 writes the files (and holds the lock), all
  of them the checkpoints.

  Returns:
    The final evaluation metrics, `{name: {metric: value}}` (`'train'` is
    the training distribution), plus `'last_train_log'` (the last logged
    training metrics), `'stopped_at'`, `'step'` and `'wall_seconds'`. A
    population returns `'members'`: one such dict per member, with its
    `'overrides'`.

  Raises:
    ValueError: naming a bad config field, or a config field whose change
      would alter the shapes of the checkpointed state.
    workdir.WorkdirLocked: another live process trains in `workdir`.
    FloatingPointError: naming the step at which the loss or gradient became
      non-finite, or (`guards.Diverged`) the loss blew up; the checkpoints
      written before stay on disk. (A population member stops alone.)
  """
  start = time.time()
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ValueError(f'--workdir={workdir} is a file, not a directory.')
  s = setup_lib.setup(config)
  main = distributed.is_main_process()
  with workdir_lib.lock(workdir) if main else contextlib.nullcontext():
    state, step = _resume(s, workdir)
    return _Loop(s, workdir, start).run(state, step)


def _resume(s: setup_lib.Setup, workdir: str
            ) -> tuple[TrainState | None, int | None]:
  """Restores the newest readable checkpoint of `workdir`, or `(None, None)`.

  A checkpoint whose shapes differ from the config's is an error naming the
  config field that changed them; nothing in the workdir changes. Newer
  checkpoints that cannot be read are reported and moved to
  `checkpoints_unreadable/` (never deleted), so the run can save those
  steps again.
  """
  steps = checkpoint.all_steps(workdir)
  if not steps:
    return None, None
  config = s.config
  mngr = checkpoint.manager(workdir, read_only=True)
  try:
    state, step, skipped = checkpoint.restore_newest(
        mngr, s.abstract_state, steps=steps, sharding=s.state_sharding)
  except checkpoint.ShapeMismatch as e:
    old = workdir_lib.load_config(workdir)
    fields = ([] if old is None
              else setup_lib.shape_changing_fields(old, config))
    what = (setup_lib.describe_fields(fields, old, config) + ' changes'
            if fields else 'the config changes')
    raise ValueError(
        f'Cannot resume {workdir}: {what} the shapes of the saved train '
        f'state ({"; ".join(e.differences)}; checkpoint {e.step}). Nothing in '
        'the workdir was changed. Resume with the values in its config.json, '
        'or train in a new --workdir.') from None
  except FileNotFoundError as e:
    raise FileNotFoundError(
        f'{e}. Nothing was changed; move the checkpoints away to train '
        'from scratch.') from None
  finally:
    mngr.close()
  for bad in skipped:
    if not distributed.is_main_process():
      continue
    where = checkpoint.move_aside(workdir, bad.step)
    logging.warning('Checkpoint %d of %s could not be read (%s); resuming '
                    'from step %d instead. The unreadable checkpoint was '
                    'moved to %s.', bad.step, workdir, bad.reason, step,
                    where)
  return s.place(state), step


class _Clock:
  """Time spent training, apart from compiling, evaluating and saving."""

  def __init__(self):
    self.busy_since = None
    self.window = 0.0

  def start(self):
    self.busy_since = time.time()

  def stop(self):
    if self.busy_since is not None:
      self.window += time.time() - self.busy_since
      self.busy_since = None

  def take(self) -> float:
    window, self.window = self.window, 0.0
    return window


class _Loop:
  """One run (or population) in one workdir."""

  def __init__(self, s: setup_lib.Setup, workdir: str, start: float):
    self.s, self.workdir, self.start = s, workdir, start
    self.tc = s.config.train
    self.members = (None if s.members is None
                    else list(range(len(s.members))))
    self.stopped_path = os.path.join(workdir, 'stopped.json')
    self.main = distributed.is_main_process()  # writes the files.

  # ---- member views -----------------------------------------------------

  def _ids(self) -> list[int | None]:
    return [None] if self.members is None else self.members

  def _view(self, tree: Any, i: int | None) -> Any:
    return tree if i is None else population.unstack(tree, i)

  def _eval_key(self, i: int | None):
    return self.s.keys.eval if i is None else self.s.keys.eval[i]

  def _mark_done(self, state: TrainState, i: int) -> TrainState:
    return state._replace(done=state.done.at[i].set(True))

  # ---- the run ----------------------------------------------------------

  def run(self, state: TrainState | None, resumed_at: int | None
          ) -> dict[str, Any]:
    s, tc, workdir = self.s, self.tc, self.workdir
    step = resumed_at or 0
    num_steps = tc.num_steps
    self.stopped_at = None
    if self.members is None and os.path.exists(self.stopped_path):
      with open(self.stopped_path) as f:
        stopped = json.load(f)
      if stopped['step'] == step:
        # A run that stopped because it was solved stays stopped.
        logging.info('%s stopped at step %d (%s); not training further. '
                     'Delete it to continue.', self.stopped_path, step,
                     stopped['reason'])
        num_steps = step
        self.stopped_at = step
    if (state is not None and self.members is not None
        and bool(np.all(distributed.host(state.done)))):
      num_steps = step
    if resumed_at is not None and step >= num_steps:
      done = self._load_final(step)
      if done is not None:
        logging.info('%s already finished at step %d; its results (eval/) '
                     'are returned unchanged. Use memax.evaluate for other '
                     'settings.', workdir, step)
        return done

    if self.main:
      workdir_lib.save_config(s.config, workdir)
    history = []
    if resumed_at is not None:
      logging.info('Resumed from %s at step %d.', workdir, step)
      dropped = (workdir_lib.truncate_metrics(workdir, step) if self.main
                 else 0)
      if dropped:
        logging.info('Dropped %d lines of metrics.jsonl logged after step %d '
                     'by the interrupted run; those steps are logged again.',
                     dropped, step)
      # Up to `step`: every process reads the same history, whether or not
      # process 0 has dropped the later lines yet.
      history = [r for r in writers.read_metrics(workdir) if r['split'] == 'train'
                 and r['step'] <= step
                 and isinstance(r.get('loss'), (int, float))]
    self.wall_before = _wall_before(history)
    self.writer = writers.MetricWriter(
        workdir, tensorboard=s.config.get('tensorboard', True),
        purge_step=None if resumed_at is None else step + 1)
    self.writer.write_hparams(dict(workdir_lib.flatten(s.config.to_dict())))
    factor = tc.get('divergence_factor', setup_lib.DIVERGENCE_FACTOR)
    self.guards = {}
    for i in self._ids():
      mine = [r for r in history if r.get('member') == i]
      self.guards[i] = guards.DivergenceGuard(
          factor, initial=next((r['loss'] for r in mine if r['step'] == 0),
                               None),
          history=[r['loss'] for r in mine])
    best = checkpoint.best_record(workdir)
    self.best_value = None if best is None else best.get('value')
    # Every process has read the workdir (which checkpoint directories
    # exist decides which orbax calls, each a barrier, it makes) before
    # process 0 creates any.
    distributed.barrier('memax:workdir_read')
    self.mngr = checkpoint.manager(workdir,
                                   max_to_keep=tc.get('max_checkpoints', 3))
    if state is None:
      state = s.init_state()
    self.reported = set()
    trained = False
    try:
      state, step = self._train(state, step, num_steps)
      trained = True
    finally:
      self.mngr.wait_until_finished()
      if trained:
        self.writer.flush()
      else:  # the run stops here (divergence, interruption): its files too.
        self.writer.close()
    return self._final(state, step)

  def _train(self, state: TrainState, step: int, num_steps: int
             ) -> tuple[TrainState, int]:
    s, tc = self.s, self.tc
    key, data = s.chunk_inputs()
    if step < num_steps:
      logging.info('Compiling the train step (%s on %s, %d steps per call%s)'
                   '...', s.config.model.name, s.task.name,
                   tc.steps_per_call, '' if self.members is None
                   else f', a population of {len(self.members)}')
      t = time.time()
      with compiler.slow_compile_hint(
          unrolled_random=cpu_random.enabled()):
        chunk = s.chunk().lower(state, key, data).compile()
      logging.info('Compiled the train step in %.1f s.', time.time() - t)
    clock = _Clock()
    self.last_train = {}
    unchecked = []  # (first step, metrics, losses) per chunk.
    window = []  # checked chunks' metrics, to log.
    window_steps = 0
    logged_first = False
    clock.start()
    while step < num_steps:
      state, metrics, losses = chunk(state, key, data)
      first = step
      step += tc.steps_per_call
      window_steps += tc.steps_per_call
      unchecked.append((first, metrics, losses))
      if not logged_first:
        jax.block_until_ready(state)
        logged_first = True
        age = _process_age()
        logging.info('First %d train steps done, %.1f s after the launch%s.',
                     tc.steps_per_call, time.time() - self.start,
                     '' if age is None else f' ({age:.1f} s after the '
                     'process started)')
      log_now = step % tc.log_every == 0 or step >= num_steps
      save_now = step % tc.ckpt_every == 0 or step >= num_steps
      eval_now = step % tc.eval_every == 0 or step >= num_steps
      if not (log_now or save_now or eval_now):
        continue
      jax.block_until_ready(state)
      clock.stop()
      state = self._check_finite(state)
      for first_step, chunk_metrics, chunk_losses in distributed.host(
          unchecked):
        window.append(chunk_metrics)
        state = self._check_losses(state, first_step, chunk_losses)
      unchecked = []
      if log_now:
        rate = window_steps / max(clock.take(), 1e-9)
        self._log(step, num_steps, window, rate)
        window, window_steps = [], 0
      # Evaluation first: what it decides (linear start, a member that is
      # solved) is part of the state this step's checkpoint saves.
      solved = False
      if eval_now:
        state, solved = self._evaluate(state, step)
      all_done = self.members is not None and bool(np.all(distributed.host(
          state.done)))
      if save_now or solved or all_done:
        checkpoint.save(self.mngr, step, state)
      if solved:
        # After the checkpoint: a re-launch then stays stopped at this step.
        self.mngr.wait_until_finished()
        if self.main:
          workdir_lib.write_json(self.stopped_path, {
              'step': step, 'reason': self.stop_reason}, indent=None)
        break
      if all_done:
        logging.info('Every member of the population has stopped at step '
                     '%d.', step)
        break
      self.writer.flush()
      clock.start()
    return state, step

  # ---- checks -----------------------------------------------------------

  def _stop_text(self) -> str:
    text = guards.no_checkpoint_text(self.mngr.latest_step(),
                                     self.tc.ckpt_every)
    best = checkpoint.best_record(self.workdir)
    if best is not None:
      text += (f' The best checkpoint by {best.get("metric")} '
               f'({best.get("value", float("nan")):.4g}) is step '
               f'{best["step"]}, in {checkpoint.BEST_DIR}/.')
    return text

  def _member_stops(self, i: int, step: int, reason: str) -> None:
    if i in self.reported:
      return
    self.reported.add(i)
    logging.warning('Population member %d (%s) stopped at step %d: %s The '
                    'other members go on.', i, self.s.members[i], step, reason)
    self.writer.write_scalars(step, {'stopped': 1.0}, split='status',
                              member=i)

  def _check_finite(self, state: TrainState) -> TrainState:
    bad = np.atleast_1d(distributed.host(state.first_nonfinite_step))
    for i, b in zip(self._ids(), bad):
      if b < 0:
        continue
      if i is None:
        raise FloatingPointError(
            f'Non-finite loss or gradient at step {int(b)} (workdir '
            f'{self.workdir}); its update was skipped and training stopped. '
            + self._stop_text())
      self._member_stops(i, int(b), 'a non-finite loss or gradient.')
    return state

  def _check_losses(self, state: TrainState, first_step: int,
                    losses: np.ndarray) -> TrainState:
    losses = np.asarray(losses)
    for i in self._ids():
      mine = losses if i is None else losses[:, i]
      if first_step == 0:  # the untrained model's loss, on the first batch.
        self.writer.write_scalars(0, dict(
            {'loss': mine[0]},
            **({'epoch': 0.0} if self.s.steps_per_epoch else {})), member=i)
      if i in self.reported:
        continue
      problem = self.guards[i].check(first_step, mine)
      if problem:
        if i is None:
          raise guards.Diverged(f'{problem} Training stopped (workdir '
                                f'{self.workdir}). ' + self._stop_text())
        state = self._mark_done(state, i)
        self._member_stops(i, first_step, problem)
    return state

  # ---- logging and evaluation -------------------------------------------

  def _log(self, step: int, num_steps: int, window: list[Any],
           rate: float) -> None:
    tc, s = self.tc, self.s
    extra = ({'epoch': step / s.steps_per_epoch} if s.steps_per_epoch
             else {})
    extra.update(self._wall())  # one time for every member's line.
    per_member = {}
    for i in self._ids():
      values = {k: float(np.mean([np.asarray(m[k]) if i is None
                                  else np.asarray(m[k])[i] for m in window]))
                for k in window[0]}
      per_member[i] = values
      self.writer.write_scalars(step, dict(
          values, steps_per_sec=rate, sequences_per_sec=rate * tc.batch_size,
          **extra), member=i)
    if self.members is None:
      self.last_train = per_member[None]
    else:
      self.last_train = {f'member{i}': v for i, v in per_member.items()}
    live = [v for i, v in per_member.items() if i not in self.reported]
    shown = live[0] if self.members is None else {
        k: float(np.mean([v[k] for v in live])) for k in (live or [{}])[0]}
    logging.info(
        'step %d/%d | %.1f steps/s (%.0f seq/s) | loss %.4g | %s | ETA %s%s',
        step, num_steps, rate, rate * tc.batch_size * len(self._ids()),
        shown.get('loss', float('nan')),
        ' '.join(f'{k} {v:.4g}' for k, v in shown.items()
                 if k not in ('loss', 'grad_norm')
                 and not k.startswith('loss_')),
        _format_eta((num_steps - step) / max(rate, 1e-9)),
        '' if self.members is None else
        f' | mean over {len(live)} live members')

  def _wall(self) -> dict[str, float]:
    """`{'wall_seconds': ...}`: the wall time since the run first started,
    summed over the launches that reached this step (each up to its last
    log line kept); empty when an earlier launch did not record it."""
    if self.wall_before is None:
      return {}
    return {'wall_seconds': self.wall_before + time.time() - self.start}

  def _evaluate(self, state: TrainState, step: int
                ) -> tuple[TrainState, bool]:
    s, tc = self.s, self.tc
    t = time.time()
    solved_all = False
    for i in self._ids():
      if i is not None and bool(distributed.host(state.done[i])):
        continue
      # Each process evaluates its own replica: the same numbers everywhere.
      view = distributed.local(self._view(state, i))
      results = s.evaluator.periodic(view, s.data, key=self._eval_key(i))
      for split, values in results.items():
        self.writer.write_scalars(step, values, split=f'eval/{split}',
                                  member=i)
      logging.info('eval at step %d%s (%.1f s): %s', step,
                   '' if i is None else f' member {i}', time.time() - t,
                   json.dumps({n: {k: round(v, 4) for k, v in r.items()}
                               for n, r in results.items()}))
      if s.linear_start and 'valid' in results:
        state = self._plateau(state, i, step, results['valid']['loss'])
      if s.best is not None and i is None:
        split, metric = s.best
        value = results[split][metric]
        if checkpoint.is_better(value, self.best_value,
                                tc.get('best_mode', 'min')):
          self.best_value = value
          checkpoint.save_best(self.workdir, step, state,
                               metric=f'{split}/{metric}', value=value,
                               mode=tc.get('best_mode', 'min'))
      if _solved(tc, results):
        reason = (f'eval train {tc.stop_metric} '
                  f'{results["train"][tc.stop_metric]:.4g} < {tc.stop_below}')
        if i is None:
          logging.info('Solved at step %d: %s; stopping.', step, reason)
          self.stopped_at = step
          self.stop_reason = reason
          solved_all = True
        else:
          state = self._mark_done(state, i)
          self.reported.add(i)
          logging.info('Member %d solved at step %d: %s; it stops.', i, step,
                       reason)
          # The step it stopped at, in metrics.jsonl (as for a diverged one).
          self.writer.write_scalars(step, {'stopped': 1.0, 'solved': 1.0},
                                    split='status', member=i)
    return state, solved_all

  def _plateau(self, state: TrainState, i: int | None, step: int,
               valid_loss: float) -> TrainState:
    # Decided on the host copy of the (small) linear start state, then
    # placed back on the run's devices.
    current = distributed.local(state.linear_start)
    view = state._replace(linear_start=self._view(current, i))
    new, ended = linear_start.update(view, step, valid_loss)
    if ended:
      logging.info('Linear start ends at step %d%s: the validation loss %.4g '
                   'did not decrease; softmax re-inserted.', step,
                   '' if i is None else f' (member {i})', valid_loss)
    ls = new.linear_start if i is None else jax.tree.map(
        lambda whole, one: whole.at[i].set(one), current, new.linear_start)
    return state._replace(linear_start=self.s.place(ls))

  # ---- the end ----------------------------------------------------------

  def _member_config(self, i: int | None) -> ml_collections.ConfigDict:
    return self.s.config if i is None else self.s.member_configs[i]

  def _final(self, state: TrainState, step: int) -> dict[str, Any]:
    s = self.s
    model = setup_lib.build_model(s.config, s.task,
                                  return_aux=evaluate_lib.draws_plots(s.config))
    plot_member = s.config.get('population', {}).get('plot_member', 0)
    out = {}
    for i in self._ids():
      config = self._member_config(i)
      if i is not None and i != plot_member:
        config = ml_collections.ConfigDict(config.to_dict())
        config.evals.plot = False
        config.evals.arrays = False
      seed = config.seed
      final = evaluate_lib.final_evaluation(
          config, self.workdir, distributed.local(self._view(state, i)),
          self._eval_key(i), task=s.task, model=model, data=s.data,
          linear_start=s.linear_start,
          out_dir=None if i is None else _member_dir(self.workdir, i),
          record={'checkpoint_step': step, 'eval_seed': seed,
                  **({} if i is None else {'member': i,
                                           'overrides': s.members[i]})})
      for split, values in final.items():
        self.writer.write_scalars(step, values, split=f'final/{split}',
                                  member=i)
      out[i] = final
    self.writer.close()
    return self._results(out, state, step)

  def _results(self, out: dict[int | None, Any], state: Any,
               step: int) -> dict[str, Any]:
    if self.members is None:
      final = dict(out[None])
      final.update(last_train_log=self.last_train, stopped_at=self.stopped_at,
                   step=step, wall_seconds=time.time() - self.start)
      return final
    steps = (np.atleast_1d(distributed.host(state.step)) if state is not None
             else [step] * len(self.members))
    members = []
    for i in self.members:
      members.append(dict(out[i], overrides=self.s.members[i],
                          step=int(steps[i]),
                          last_train_log=self.last_train.get(f'member{i}',
                                                             {})))
    return {'members': members, 'step': step, 'stopped_at': self.stopped_at,
            'last_train_log': self.last_train,
            'wall_seconds': time.time() - self.start}

  def _load_final(self, step: int) -> dict[str, Any] | None:
    out = {}
    for i in self._ids():
      where = (os.path.join(self.workdir, 'eval') if i is None
               else _member_dir(self.workdir, i))
      done = evaluate_lib.load_final(self._member_config(i), self.s.task,
                                     where, step)
      if done is None:
        return None
      out[i] = done
    records = [r for r in writers.read_metrics(self.workdir) if r['split'] == 'train'
               and 'loss' in r]
    self.last_train = {}
    for r in records:
      values = {k: v for k, v in r.items()
                if k not in ('step', 'split', 'member')}
      if self.members is None:
        self.last_train = values
      else:
        self.last_train[f'member{r.get("member")}'] = values
    return self._results(out, None, step)


def _wall_before(history: Sequence[dict[str, Any]]) -> float | None:
  """The wall time a resumed run had spent by its last kept log line (None
  when that line, written by an older memax, does not say; 0.0 for a new
  run, or one that had logged nothing but its first loss)."""
  logged = [r for r in history if 'steps_per_sec' in r]
  if not logged:
    return 0.0
  wall = logged[-1].get('wall_seconds')
  return float(wall) if isinstance(wall, (int, float)) else None


def _member_dir(workdir: str, i: int) -> str:
  return os.path.join(workdir, 'eval', f'member{i}')


def _process_age() -> float | None:
  """Seconds since this process started (Linux), or None."""
  try:
    with open('/proc/self/stat') as f:
      ticks = int(f.read().rsplit(')', 1)[1].split()[19])
    with open('/proc/stat') as f:
      boot = next(int(line.split()[1]) for line in f
                  if line.startswith('btime'))
    return time.time() - (boot + ticks / os.sysconf('SC_CLK_TCK'))
  except (OSError, ValueError, IndexError, StopIteration):
    return None


def _solved(tc: ml_collections.ConfigDict, results: dict) -> bool:
  metric = tc.get('stop_metric', '')
  if not metric:
    return False
  value = results.get('train', {}).get(metric)
  return value is not None and value < tc.stop_below


def _format_eta(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f'{h}h{m:02d}m{s:02d}s' if h else f'{m}m{s:02d}s'

