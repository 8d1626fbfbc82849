"""Length buckets: compute a batch only to the end of its length's bucket.

For batches with `num_steps` (one length for the whole batch, e.g. copy with
`task.length_per_batch`), `config.train.length_buckets` > 0 splits the padded
length `T` into that many buckets and computes the forward and backward pass
only up to the end of the batch's bucket: one `lax.switch` over whole
gradient computations, each a scan of its own static length. The steps cut
off are padding for every sequence (a causal model's earlier outputs do not
depend on them, and the mask excludes them), so loss, gradients and metrics
are those of the full batch; the logits past the cut are zero. Unlike the
sequence model's per-step skipping it needs no conditional inside the scan
and no `remat`, at the cost of compiling one gradient per bucket. Under
`jax.vmap` (a population) the bucket index is batched and `lax.switch` then
computes every branch, so populations refuse it.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp

from memax.types import Batch


def bucket_edges(max_steps: int, num_buckets: int) -> tuple[int, ...]:
  """Upper ends of `num_buckets` near-equal buckets of lengths `1..max_steps`.

  Bucket `i` ends at `ceil(max_steps * (i + 1) / num_buckets)`; duplicates
  (more buckets than lengths) are dropped. For the copy task's 41 steps, 20
  buckets end at 3, 5, ..., 41: one per sequence length `2L + 1`.
  """
  n = min(num_buckets, max_steps)
  return tuple(sorted({-(-max_steps * (i + 1) // n) for i in range(n)}))


def bucketed(grad_fn: Callable, params: Any, batch: Batch,
             num_buckets: int) -> Any:
  """`grad_fn(params, batch)` on the batch cut to the end of its bucket.

  `grad_fn` returns `((loss, (logits, extra)), grads)`; the logits are padded
  back to the full length with zeros.
  """
  max_steps = batch.inputs.shape[1]
  edges = bucket_edges(max_steps, num_buckets)

  def cut(x, t):
    return x[:, :t] if jnp.ndim(x) >= 2 and x.shape[1] == max_steps else x

  def branch(t):
    def run(params, batch):
      (loss, (logits, extra)), grads = grad_fn(
          params, jax.tree.map(lambda x: cut(x, t), batch))
      pad = [(0, 0), (0, max_steps - t)] + [(0, 0)] * (logits.ndim - 2)
      return (loss, (jnp.pad(logits, pad), extra)), grads
    return run

  index = jnp.searchsorted(jnp.asarray(edges), batch.num_steps)
  index = jnp.clip(index, 0, len(edges) - 1)
  return jax.lax.switch(index, [branch(t) for t in edges], params, batch)
