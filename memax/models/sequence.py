"""A sequence model: any carry-first cell unrolled with `lax.scan`, plus a
linear readout.

The cell's output `y` is `(features [B, F], aux)`, or `(features, aux,
losses)` where `losses` maps names to per-step losses `[B]` (e.g. DAM's
memory refreshing loss). The model maps features to logits `[B, T, O]`,
stacks the auxiliary outputs over time and reduces each per-step loss to its
mean over batch and time.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from memax.types import Array, ModelOutput


def _projects(cell: nn.Module) -> bool:
  """Whether `cell` splits its step into `project_inputs` (the part that
  depends on the inputs alone, for all steps at once) and `step_projected`.

  Not when a subclass overrides `__call__` below the class that defines
  `step_projected`: its own step is then the one that runs.
  """
  mro = type(cell).__mro__

  def owner(name):
    return next((i for i, c in enumerate(mro) if name in vars(c)), None)

  split = owner('step_projected')
  return (split is not None and owner('project_inputs') is not None
          and owner('__call__') >= split)


def _step(cell: nn.Module, carry: Any, x: Any) -> tuple[Any, Any]:
  return cell.step_projected(carry, x) if _projects(cell) else cell(carry, x)


def _step_or_skip(cell: nn.Module, carry: Any, xs: tuple[Any, Array],
                  skipped: Any) -> tuple[Any, Any]:
  """One step if `active`, else the carry unchanged and `skipped` outputs."""
  x, active = xs
  return nn.cond(active, _step, lambda mdl, c, x: (c, skipped), cell, carry,
                 x)


class SequenceModel(nn.Module):
  """Unrolls `cell` over the time axis of `[B, T, D]` inputs.

  The batch size and the sequence length are free; so is any size the cell
  takes from its attributes (the NTM's memory size), since none of them is a
  parameter shape.

  A cell may split its step in two: `project_inputs(xs [B, T, D])`, the
  part that depends on the inputs alone, for all steps at once (any leading
  axes; a pytree whose leaves are all `[B, T, ...]`), and
  `step_projected(carry, p_t)` on one step's slice of it, with
  `step_projected(c, project_inputs(x)) == cell(c, x)`. The model then
  computes the projection before the loop, as one large matrix product
  (`memax.cells.lstm`: `LSTMBaseline`, `MANNCell`, `DNCCell`, whose
  controllers' input products move out of the loop). A subclass that
  overrides `__call__` alone is stepped with its `__call__`.

  The readout is one linear layer by default. DAM's output path
  (taewonpark/DAM) adds three optional parts, in its order: dropout of the
  cell's controller output while training (`readout_dropout`; the cell's
  `dropout_features` says how many leading features that is, else all),
  ReLU layers (`readout_layers`), then the linear layer and a clip of the
  logits (`output_clip`). Off by default, and the parameters are then
  those of the linear readout alone.

  Attributes:
    cell: a carry-first cell whose output is `(features, aux_dict)`.
    output_size: `O`, logits per step.
    unroll: steps per iteration of the scan loop (speed only).
    remat: recompute each step's activations in the backward pass instead
      of storing them (less memory traffic, more compute). Steps skipped
      by `num_steps` are always recomputed (see `__call__`).
    embedding_size: 0 for float inputs `[B, T, D]`; `E > 0` for integer
      token ids `[B, T]` (padding: negative ids, embedded as zeros), each
      embedded by a learned table of `vocab_size x E` (DAM's bAbI: 64).
    vocab_size: the table's rows, with `embedding_size` (the task's input
      size).
    readout_dropout: drop rate of the controller features in training
      (DAM: 0.1, its keep probability 0.9); 0 disables.
    readout_layers: widths of ReLU layers before the linear readout.
    output_clip: clip the logits to `[-c, c]` (DAM: 20); 0 disables.
  """

  # Random-number streams the model draws from (the trainer provides them;
  # the first gets the step's model key itself).
  rng_streams = ('carry', 'dropout')

  cell: nn.RNNCellBase
  output_size: int
  unroll: int = 1
  remat: bool = False
  embedding_size: int = 0
  vocab_size: int = 0
  readout_dropout: float = 0.0
  readout_layers: tuple[int, ...] = ()
  output_clip: float = 0.0

  @nn.compact
  def __call__(self, inputs: Array, *, train: bool = False,
               num_steps: Array | None = None) -> ModelOutput:
    """Returns logits `[B, T, O]`, losses and aux `{name: [B, T, ...]}`.

    A 'carry' rng stream, if given, seeds random initial states; a
    'dropout' stream the readout's dropout. `train` turns that dropout on;
    the recurrent cells ignore it.

    `num_steps`, a `[]` int >= 1, says that the steps from that index on are
    padding for the whole batch: they are skipped (`lax.cond`; the carry
    passes through, features and aux are zero), so a batch costs about its
    own length rather than `T` (a cell's input projection still runs over
    all `T` steps, one product). This pays at large batches; at batch 1 the
    conditional costs more than the step it skips. Skipping always
    recomputes each step in the backward pass (as `remat` does): without
    it the conditional's residuals, stacked over time, include the cell's
    weights at every step (the LSTM's 256 x 1024 recurrent kernel became a
    1,377 x 256 x 1024 array), and a gradient that skips 1,298 of 1,378
    steps cost 3.4x the one computing them all (docs/benchmarks.md).
    """
    if self.embedding_size:
      inputs = self._embed(inputs)
    rng = (self.make_rng('carry') if self.has_rng('carry')
           else jax.random.key(0))
    carry = self.cell.initialize_carry(rng, inputs[:, 0].shape)
    if hasattr(self.cell, 'learned_init'):
      carry = self.cell.learned_init(carry)
    if _projects(self.cell):
      # One product over all steps instead of one per step inside the loop.
      inputs = self.cell.project_inputs(inputs)
    if num_steps is None:
      step = nn.remat(_step) if self.remat else _step
      scan = nn.scan(step, variable_broadcast='params',
                     split_rngs={'params': False}, in_axes=1, out_axes=1,
                     unroll=self.unroll)
      _, outputs = scan(self.cell, carry, inputs)
    else:
      # The first step runs outside the loop: its outputs give the skipped
      # steps' (zero) outputs their structure.
      carry, first = _step(self.cell, carry,
                           jax.tree.map(lambda a: a[:, 0], inputs))
      skipped = jax.tree.map(jnp.zeros_like, first)
      step = nn.remat(_step_or_skip)
      scan = nn.scan(step, variable_broadcast='params',
                     split_rngs={'params': False},
                     in_axes=((1, 0), nn.broadcast), out_axes=1,
                     unroll=self.unroll)
      steps = jax.tree.leaves(inputs)[0].shape[1]
      active = jnp.arange(1, steps) < num_steps
      later = jax.tree.map(lambda a: a[:, 1:], inputs)
      _, rest = scan(self.cell, carry, (later, active), skipped)
      outputs = jax.tree.map(
          lambda a, b: jnp.concatenate([a[:, None], b], axis=1), first, rest)
    features, aux = outputs[0], outputs[1]
    losses = ({k: jnp.mean(v) for k, v in outputs[2].items()}
              if len(outputs) > 2 else {})
    return ModelOutput(self._readout(features, train), losses, aux)

  def _embed(self, ids: Array) -> Array:
    """Token ids `[B, T]` -> `[B, T, E]`; negative ids (padding) -> 0."""
    if ids.ndim != 2 or not jnp.issubdtype(ids.dtype, jnp.integer):
      raise ValueError(
          'config.model.embedding_size > 0 embeds integer token ids [B, T]; '
          f'got inputs of shape {ids.shape} and dtype {ids.dtype} (a task '
          "with config.task.inputs='ids').")
    table = nn.Embed(self.vocab_size, self.embedding_size, name='embedding')
    return table(jnp.maximum(ids, 0)) * (ids >= 0)[..., None]

  def _readout(self, features: Array, train: bool) -> Array:
    """Features `[B, T, F]` -> logits `[B, T, O]` (the class docstring)."""
    if self.readout_dropout and train:
      n = getattr(self.cell, 'dropout_features', features.shape[-1])
      dropped = nn.Dropout(self.readout_dropout, deterministic=False)(
          features[..., :n])
      features = jnp.concatenate([dropped, features[..., n:]], axis=-1)
    for i, width in enumerate(self.readout_layers):
      features = nn.relu(nn.Dense(width, name=f'readout_hidden_{i}')(features))
    logits = nn.Dense(self.output_size, name='readout')(features)
    if self.output_clip:
      logits = jnp.clip(logits, -self.output_clip, self.output_clip)
    return logits
