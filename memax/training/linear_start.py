"""MemN2N's linear start, ended when the validation loss stops decreasing.

Sukhbaatar et al. 2015, sec. 4.2: training starts with the softmax of every
memory layer removed; "when the validation loss stopped decreasing, the
softmax layers were re-inserted and training recommenced". With
`config.train.linear_start_epochs = -1` the train state's `linear_start.until`
starts at `UNTIL_PLATEAU`; after each periodic evaluation the trainer calls
`update`, which ends linear start at the first evaluation whose validation
loss is not below the best so far by setting `until` to that step. The
decision is part of the state (checkpointed, resumed, evaluated with it), and
the compiled train step reads it as data, so nothing is rebuilt or recompiled.
"""

import jax.numpy as jnp

from memax.training import step as step_lib


def waiting(state: step_lib.TrainState) -> bool:
  """Whether linear start still waits for the validation plateau."""
  return int(state.linear_start.until) == step_lib.UNTIL_PLATEAU


def update(state: step_lib.TrainState, step: int, valid_loss: float
           ) -> tuple[step_lib.TrainState, bool]:
  """Records one evaluation; returns the new state and whether LS ended."""
  if not waiting(state):
    return state, False
  best = float(state.linear_start.best_valid_loss)
  if not valid_loss < best:
    until = jnp.asarray(step, jnp.int32)
    return state._replace(linear_start=state.linear_start._replace(
        until=until)), True
  return state._replace(linear_start=state.linear_start._replace(
      best_valid_loss=jnp.asarray(valid_loss, jnp.float32))), False
