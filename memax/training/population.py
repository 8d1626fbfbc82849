"""Populations: K models that differ in seed and hyper-parameters, one jit.

A config trains a population when `config.population.seeds` or
`config.population.sweep` is set:

  --config.population.seeds=0,1,2,3
  --config.population.sweep='optimizer.learning_rate=1e-4,3e-4;optimizer.momentum=0.9,0.95'

The members are the product of the seeds (default: `config.seed`) and of
each `field=v1,v2,...` entry of the sweep (entries separated by `;`). Members
may differ only in what changes no shape and no code path: the seed, the
optimiser's hyper-parameters (`memax.training.optim`, injected into the
optimiser state), `optimizer.l2` and `train.loss_weights.*`. Their train
states are stacked on a leading member axis and trained by one compiled
`jit(vmap(train_step))`; each member's numbers equal those of the single run
with its seed and hyper-parameters (to float32 rounding).
"""

import itertools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from memax import overrides as overrides_lib
from memax.training import optim
from memax.training import step as step_lib


def _ints(text: Any, field: str) -> list[int]:
  if isinstance(text, int) and not isinstance(text, bool):
    return [text]
  if isinstance(text, (tuple, list)):
    items = list(text)
  else:
    text = str(text).strip()
    if not text:
      return []
    if ':' in text:
      lo, _, hi = text.partition(':')
      try:
        return list(range(int(lo), int(hi)))
      except ValueError:
        raise ValueError(f'config.population.{field}={text!r}: expected '
                         "'a:b' (a range) or a comma-separated list of "
                         'integers.') from None
    items = [t for t in text.split(',') if t.strip()]
  try:
    return [int(t) for t in items]
  except (TypeError, ValueError):
    raise ValueError(f'config.population.{field}={text!r}: expected '
                     'integers, e.g. 0,1,2,3 or 0:16.') from None


def sweep_entries(text: str) -> list[tuple[str, list[str]]]:
  """`[(field, [value texts])]` of `'a.b=1,2;c=3'`."""
  out = []
  for entry in str(text or '').split(';'):
    entry = entry.strip()
    if not entry:
      continue
    field, sep, values = entry.partition('=')
    field = field.strip()
    if field.startswith('config.'):
      field = field[len('config.'):]
    items = [v.strip() for v in values.split(',') if v.strip()]
    if not sep or not field or not items:
      raise ValueError(f'config.population.sweep: {entry!r} must look like '
                       'field.path=v1,v2,...')
    out.append((field, items))
  return out


def is_population(config: ml_collections.ConfigDict) -> bool:
  """Whether `config` asks for a population."""
  pop = config.get('population')
  return bool(pop) and bool(str(pop.get('seeds', '')).strip()
                            or str(pop.get('sweep', '')).strip())


def allowed(field: str, config: ml_collections.ConfigDict) -> bool:
  """Whether members may differ in `field` (no shape, no code path)."""
  if field == 'seed':
    return True
  section, _, leaf = field.partition('.')
  if section == 'optimizer':
    return leaf in optim.hyperparam_fields(config.optimizer) + ('l2',)
  return section == 'train' and leaf.startswith('loss_weights.')


def member_overrides(config: ml_collections.ConfigDict
                     ) -> list[dict[str, Any]]:
  """Each member's `{field: value}` (with 'seed'), in a fixed order."""
  pop = config.population
  seeds = _ints(pop.get('seeds', ''), 'seeds') or [config.seed]
  axes = [[('seed', s) for s in seeds]]
  for field, texts in sweep_entries(pop.get('sweep', '')):
    if not allowed(field, config):
      raise ValueError(
          f'config.population.sweep: members cannot differ in config.{field} '
          '(it changes shapes or code paths, or is not a hyper-parameter of '
          f'config.optimizer.name={config.optimizer.name!r}). A population '
          'varies seed, the optimiser hyper-parameters '
          f'{list(optim.hyperparam_fields(config.optimizer)) + ["l2"]} and '
          'train.loss_weights.*; run the others as separate trainings.')
    node = config
    *parents, leaf = field.split('.')
    for p in parents:
      node = node[p] if p in node else None
      if node is None:
        break
    if node is None or leaf not in node:
      # loss weights may be new names: they take numbers.
      if not field.startswith('train.loss_weights.'):
        raise ValueError(f'config.population.sweep: the config has no field '
                         f'config.{field}.')
      current = 1.0
    else:
      current = node[leaf]
    values = [overrides_lib.parse_value(t, current, field) for t in texts]
    axes.append([(field, v) for v in values])
  members = [dict(combo) for combo in itertools.product(*axes)]
  if len(members) < 1:
    raise ValueError('config.population: no members.')
  return members


def member_config(config: ml_collections.ConfigDict,
                  member: dict[str, Any]) -> ml_collections.ConfigDict:
  """The single-run config of one member (population fields cleared)."""
  out = ml_collections.ConfigDict(config.to_dict())
  out.population.seeds = ''
  out.population.sweep = ''
  for field, value in member.items():
    if field.startswith('train.loss_weights.'):
      out.train.loss_weights[field.split('.', 2)[2]] = float(value)
    else:
      overrides_lib.set_value(out, field, value)
  return out


def check_members(configs: list[ml_collections.ConfigDict]) -> None:
  """Refuses members that would need different code (errors name fields)."""
  base = configs[0]
  for field in optim.CLIPS:
    on = [bool(c.optimizer.get(field, 0.0)) for c in configs]
    if any(on) and not all(on):
      raise ValueError(f'config.population.sweep: config.optimizer.{field} is '
                       '0 (off) for some members and not others; a clip is '
                       'a code path. Give every member a positive value.')
  size = base.population.get('vmap_size', 0)
  if isinstance(size, bool) or not isinstance(size, int) or size < 0:
    raise ValueError('config.population.vmap_size must be a non-negative '
                     f'integer (0 = every member in one vmap), got {size!r}.')
  if base.train.get('length_buckets', 0):
    raise ValueError('config.train.length_buckets > 0 cannot train a '
                     'population: under vmap every bucket of the lax.switch '
                     'is computed. Set config.train.length_buckets=0.')


def stack_states(states: list[step_lib.TrainState]) -> step_lib.TrainState:
  """Stacks member states on a leading axis."""
  return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def unstack(tree: Any, index: int) -> Any:
  """Member `index` of a stacked tree."""
  return jax.tree.map(lambda x: x[index], tree)


def member_values(configs: list[ml_collections.ConfigDict],
                  weights: list[dict[str, float]]
                  ) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
  """`(hyperparams, loss weights)` as `[K]` arrays, one entry per member."""
  fields = optim.hyperparam_fields(configs[0].optimizer)
  hyper = {}
  for f in fields:
    hyper[f] = jnp.asarray([optim.hyperparam_value(c.optimizer, f)
                            for c in configs], jnp.float32)
  names = sorted(set().union(*weights))
  loss = {n: jnp.asarray([w.get(n, 1.0 if n != 'l2' else 0.0)
                          for w in weights], jnp.float32) for n in names}
  return hyper, loss


def set_member_values(state: step_lib.TrainState, hyper: dict[str, Any],
                      loss_weights: dict[str, Any]) -> step_lib.TrainState:
  """A stacked state with each member's hyper-parameters and loss weights."""
  held = state.opt_state.hyperparams
  opt_state = optim.set_hyperparams(
      state.opt_state, {k: v for k, v in hyper.items() if k in held})
  weights = {k: loss_weights[k].astype(v.dtype).reshape(v.shape)
             for k, v in state.loss_weights.items()}
  return state._replace(opt_state=opt_state, loss_weights=weights)
