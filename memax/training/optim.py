"""Optimisers from `config.optimizer`, with their numbers as data.

Every numeric setting (the learning rate, momentum, eps, the step schedule's
factor, the clipping thresholds, and RMSProp's decay where a population's
members differ in it) is an `optax.inject_hyperparams` hyper-parameter: it lives in the optimiser state
as a scalar array, so a population of models (`memax.training.population`)
can give each member its own value under one compiled, vmapped step. What
changes the state's structure or the code (the optimiser's name, which clips
are on, whether there is momentum, the schedule's period) is static.
"""

import inspect
import math
from typing import Any, Iterable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from memax.types import Array

OPTIMIZERS = ('rmsprop', 'adam', 'sgd')
SCHEDULES = ('constant', 'step')

# config.optimizer fields that are hyper-parameters (data, not structure), by
# optimiser; a population may give each member its own value of these.
HYPERPARAMS = {
    'rmsprop': ('learning_rate', 'momentum', 'decay', 'eps'),
    'adam': ('learning_rate', 'eps'),
    'sgd': ('learning_rate', 'momentum'),
}
CLIPS = ('grad_clip_value', 'grad_clip_norm', 'grad_clip_norm_per_param')
# The value of a field a config lacks (by optimiser where it differs; any
# other number field, e.g. a clip or `l2`, is 0). configs/common.py's
# `add_schedule_fields` gives the same schedule defaults.
DEFAULTS = {'momentum': {'rmsprop': 0.9, 'sgd': 0.0}, 'decay': 0.95,
            'eps': {'rmsprop': 1e-10, 'adam': 1e-8}, 'schedule': 'constant',
            'decay_every_epochs': 0, 'decay_start_epochs': 0,
            'decay_factor': 0.5}


def is_number(value: Any) -> bool:
  """Whether `value` is a finite int or float (a bool is not)."""
  return (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value))


def _default(field: str, name: str) -> float:
  value = DEFAULTS.get(field, 0.0)
  return value.get(name, 0.0) if isinstance(value, dict) else value


def hyperparam_value(config: ml_collections.ConfigDict, field: str) -> float:
  """`config.<field>` of an optimiser config, or its default for that
  optimiser (`DEFAULTS`)."""
  return float(config.get(field, _default(field, config.name)))


def _step_decay(count: Array, learning_rate: Array, factor: Array, *,
                every: int, start: int) -> Array:
  """`learning_rate * factor ** floor((count - start) / every)` after `start`.

  The same operations as `optax.exponential_decay(staircase=True)`, with the
  rate and the factor as arrays.
  """
  decreased = count - start
  decayed = learning_rate * factor ** jnp.floor(decreased / every)
  return jnp.where(decreased <= 0, learning_rate, decayed)


def _schedule_fields(config: ml_collections.ConfigDict,
                     steps_per_epoch: int) -> tuple[int, int]:
  """`(every, start)` in steps of a step schedule, `(0, 0)` if constant."""
  schedule = config.get('schedule', DEFAULTS['schedule'])
  if schedule == 'constant':
    return 0, 0
  if schedule != 'step':
    raise ValueError(f'Unknown config.optimizer.schedule={schedule!r}; '
                     f'expected one of {SCHEDULES}.')
  every = config.get('decay_every_epochs', DEFAULTS['decay_every_epochs'])
  if not isinstance(every, int) or every < 1:
    raise ValueError('config.optimizer.decay_every_epochs must be a positive '
                     f'integer with schedule="step", got {every!r}.')
  start = config.get('decay_start_epochs', DEFAULTS['decay_start_epochs'])
  if not isinstance(start, int) or start < 0:
    raise ValueError('config.optimizer.decay_start_epochs must be a '
                     f'non-negative integer, got {start!r}.')
  return every * steps_per_epoch, start * steps_per_epoch


def _check_numbers(config: ml_collections.ConfigDict) -> None:
  lr = config.learning_rate
  if not is_number(lr) or lr <= 0:
    raise ValueError('config.optimizer.learning_rate must be a finite number '
                     f'> 0, got {lr!r}.')
  factor = config.get('decay_factor', DEFAULTS['decay_factor'])
  if not is_number(factor) or factor <= 0:
    raise ValueError('config.optimizer.decay_factor must be a finite number '
                     f'> 0, got {factor!r}.')
  for field in CLIPS + ('momentum', 'decay', 'eps', 'l2'):
    value = config.get(field, 0.0)
    if not is_number(value) or value < 0:
      raise ValueError(f'config.optimizer.{field} must be a finite number '
                       f'>= 0, got {value!r}.')


def learning_rate_schedule(config: ml_collections.ConfigDict,
                           steps_per_epoch: int = 1) -> optax.Schedule:
  """The learning rate of `config.optimizer` as a function of the step.

  `schedule='step'` multiplies the rate by `decay_factor` every
  `decay_every_epochs` epochs (MemN2N, sec. 4.2: halved every 25 epochs),
  counted from `decay_start_epochs` (default 0; the rate is held until then,
  as in the MemN2N authors' code); an epoch is `steps_per_epoch` train steps
  (1 for synthetic tasks, so the fields then count steps).
  """
  _check_numbers(config)
  every, start = _schedule_fields(config, steps_per_epoch)
  lr = config.learning_rate
  if not every:
    return lambda count: jnp.asarray(lr, jnp.float32)
  factor = config.get('decay_factor', DEFAULTS['decay_factor'])
  return lambda count: _step_decay(
      jnp.asarray(count), jnp.float32(lr), jnp.float32(factor), every=every,
      start=start)


def _transformation(learning_rate, momentum=0.0, decay=0.0, eps=0.0,
                    decay_factor=1.0, grad_clip_value=0.0, grad_clip_norm=0.0,
                    grad_clip_norm_per_param=0.0, *, name: str,
                    centered: bool, every: int, start: int,
                    clips: tuple[str, ...], momentum_on: bool,
                    stacked: tuple[str, ...], static_decay: float | None,
                    initial_scale: float = 0.0
                    ) -> optax.GradientTransformation:
  """The optimiser for given hyper-parameter values (arrays or numbers)."""
  if static_decay is not None:
    decay = static_decay
  hyper = dict(learning_rate=learning_rate, momentum=momentum, decay=decay,
               eps=eps, decay_factor=decay_factor,
               grad_clip_value=grad_clip_value, grad_clip_norm=grad_clip_norm,
               grad_clip_norm_per_param=grad_clip_norm_per_param)
  lr = hyper['learning_rate']
  if every:
    base, factor = lr, hyper['decay_factor']
    lr = lambda count: _step_decay(count, base, factor, every=every,
                                   start=start)
  momentum = (optax.trace(decay=hyper['momentum']) if momentum_on
              else optax.identity())
  if name == 'rmsprop':
    scale = (optax.scale_by_stddev if centered else optax.scale_by_rms)(
        decay=hyper['decay'], eps=hyper['eps'], initial_scale=initial_scale)
    opt = optax.chain(scale, optax.scale_by_learning_rate(lr), momentum)
  elif name == 'adam':
    opt = optax.chain(optax.scale_by_adam(eps=hyper['eps']),
                      optax.scale_by_learning_rate(lr))
  else:
    opt = optax.chain(momentum, optax.scale_by_learning_rate(lr))
  chain = []
  if 'grad_clip_value' in clips:
    chain.append(optax.clip(hyper['grad_clip_value']))
  if 'grad_clip_norm' in clips:
    chain.append(optax.clip_by_global_norm(hyper['grad_clip_norm']))
  if 'grad_clip_norm_per_param' in clips:
    chain.append(clip_by_norm_per_param(hyper['grad_clip_norm_per_param'],
                                        stacked=stacked))
  return optax.chain(*chain, opt)


def hyperparam_fields(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The `config.optimizer` fields that are hyper-parameters (data)."""
  name = config.name
  if name not in HYPERPARAMS:
    raise ValueError(f'Unknown optimiser config.optimizer.name={name!r}; '
                     f'expected one of {OPTIMIZERS}.')
  return HYPERPARAMS[name] + ('decay_factor',) + CLIPS


def make_optimizer(config: ml_collections.ConfigDict,
                   steps_per_epoch: int = 1, *,
                   members: Iterable[ml_collections.ConfigDict] = ()
                   ) -> optax.GradientTransformation:
  """Builds the optimiser from `config.optimizer`.

  Fields: `name` ('rmsprop' with momentum as in the NTM paper, 'adam',
  'sgd'), `learning_rate` (with `schedule`, see `learning_rate_schedule`),
  `momentum`, `decay` (RMSProp), `centered`, `initial_scale` (RMSProp's
  first mean square: optax's 0 by default; TensorFlow 1's RMSProp starts at
  1, so its first updates are about `learning_rate * gradient` rather than
  `learning_rate / sqrt(1 - decay)` in size), `eps`, `grad_clip_value`
  (element-wise, 0 = off), `grad_clip_norm` (global norm, 0 = off) and
  `grad_clip_norm_per_param` (each parameter array's norm, 0 = off; with
  `grad_clip_stacked`, see `clip_by_norm_per_param`). (`l2` is a loss term,
  weighted in the train step.)

  `members`: the `config.optimizer` of every member of a population. A clip
  or the momentum is on when any member's value is non-zero (a member with 0
  then gets the clip at 0, i.e. no update: refused by the population's
  checks); the returned optimiser's hyper-parameters are `config`'s values,
  which `set_hyperparams` replaces per member.
  """
  _check_numbers(config)
  fields = hyperparam_fields(config)
  every, start = _schedule_fields(config, steps_per_epoch)
  name = config.name
  all_configs = [config] + list(members)
  clips = tuple(c for c in CLIPS
                if any(m.get(c, 0.0) for m in all_configs))
  momentum_on = 'momentum' in fields and any(
      m.get('momentum', _default('momentum', name)) for m in all_configs)
  stacked = tuple(n for n in config.get('grad_clip_stacked', '').split('+')
                  if n)
  if stacked and 'grad_clip_norm_per_param' not in clips:
    raise ValueError('config.optimizer.grad_clip_stacked='
                     f'{config.grad_clip_stacked!r} needs '
                     'config.optimizer.grad_clip_norm_per_param > 0.')
  hyper = {f: hyperparam_value(config, f) for f in fields
           if f in HYPERPARAMS[name] or f in clips
           or (f == 'decay_factor' and every)}
  # RMSProp's decay stays a Python number unless members differ in it: optax
  # computes `1 - decay` in double precision from a number but in float32
  # from an array, which would change every single run's numbers.
  static_decay = None
  if name == 'rmsprop' and len({float(m.get('decay', _default('decay', name)))
                                for m in all_configs}) == 1:
    static_decay = hyper.pop('decay')
  initial_scale = config.get('initial_scale', 0.0)
  if not is_number(initial_scale) or initial_scale < 0:
    raise ValueError('config.optimizer.initial_scale must be a finite number '
                     f'>= 0, got {initial_scale!r}.')
  static = dict(name=name, centered=bool(config.get('centered', False)),
                every=every, start=start, clips=clips,
                momentum_on=momentum_on, stacked=stacked,
                static_decay=static_decay,
                initial_scale=float(initial_scale))

  def factory(**values):
    return _transformation(**values, **static)

  # Exactly these names are hyper-parameters of the state (no others).
  factory.__signature__ = inspect.Signature(
      [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY) for k in hyper])
  return optax.inject_hyperparams(factory)(**hyper)


def hyperparams(opt_state: Any) -> dict[str, Array]:
  """The hyper-parameter arrays held in an optimiser state."""
  return dict(opt_state.hyperparams)


def set_hyperparams(opt_state: Any, values: dict[str, Any]) -> Any:
  """`opt_state` with the hyper-parameters in `values` replaced."""
  held = dict(opt_state.hyperparams)
  unknown = sorted(set(values) - set(held))
  if unknown:
    raise ValueError(f'config.optimizer.{unknown[0]} is not a hyper-parameter '
                     f'of this optimiser; it has {sorted(held)}.')
  for k, v in values.items():
    held[k] = jnp.asarray(v, held[k].dtype).reshape(jnp.shape(held[k]))
  return opt_state._replace(hyperparams=held)


def clip_by_norm_per_param(max_norm: float | Array, *,
                           stacked: tuple[str, ...] = ()
                           ) -> optax.GradientTransformation:
  """Rescales each parameter array's gradient to norm <= `max_norm`.

  The per-variable clipping of TensorFlow code (`tf.clip_by_norm` on each
  gradient) and of the MemN2N authors' Matlab code (each weight matrix on
  its own), as opposed to `optax.clip_by_global_norm` over all of them.

  `stacked` names parameters (by their last path key, e.g. `('embeddings',
  'temporal')`) that hold one matrix per index of their leading axis and
  share that axis: matrix `i` of all of them is clipped as one, i.e. the
  norm of the concatenation of their slices `i`. This is the authors'
  MemN2N, whose hop `i` has one look-up table holding both the word rows
  (`embeddings[i]`) and the time-word rows (`temporal[i]`).
  """

  def scale(sq_norm):
    return jnp.minimum(1.0, max_norm / jnp.maximum(jnp.sqrt(sq_norm), 1e-12))

  def update_fn(updates, state, params=None):
    del params
    leaves, treedef = jax.tree_util.tree_flatten_with_path(updates)
    names = [getattr(path[-1], 'key', getattr(path[-1], 'name', None))
             if path else None for path, _ in leaves]
    group = [i for i, n in enumerate(names) if n in stacked]
    out = [None if i in group else g * scale(jnp.sum(jnp.square(g)))
           for i, (_, g) in enumerate(leaves)]
    if group:
      sizes = {leaves[i][1].shape[0] if leaves[i][1].ndim else None
               for i in group}
      if len(sizes) != 1 or None in sizes:
        raise ValueError(
            f'config.optimizer.grad_clip_stacked: the parameters {stacked} '
            'must share their leading (stack) axis, got shapes '
            f'{[leaves[i][1].shape for i in group]}.')
      sq = sum(jnp.sum(jnp.square(leaves[i][1]),
                       axis=tuple(range(1, leaves[i][1].ndim)))
               for i in group)  # [S]
      for i in group:
        g = leaves[i][1]
        out[i] = g * scale(sq).reshape((-1,) + (1,) * (g.ndim - 1))
    return jax.tree_util.tree_unflatten(treedef, out), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(),
                                      update_fn)

