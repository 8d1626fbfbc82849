"""What a trained memory model does on one example: read modes, reads that
find the slot due, and the sparse link beside the dense one.

It reads the arrays that `memax.evaluate` saves with
`--config.evals.arrays=True` (`<variant>.npz`: `inputs`, `mask`,
`aux.read_modes`, `aux.read_weights`, `aux.write_weights`, ... of the
variant's first example, `[T, ...]`):

  python -m memax.evaluate --workdir=$RUNS/dnc_copy/trials/000_seed=0 \\
      --config.model.memory_size=256 --config.evals.variants=length_80 \\
      --config.evals.arrays=True --config.evals.plot=False
  python -m memax.analysis \\
      --arrays=$RUNS/dnc_copy/trials/000_seed=0/evaluations/<folder> \\
      --link_sparsity=8

prints one JSON line per `.npz`:

- `read_modes`: each read head's mean (backward, content, forward) mode
  over the output steps (`mask > 0`), and `heads_forward`, the number of
  heads whose forward mode is above 0.5 (DNC arrays only).
- `read_hits` and `read_lead`: per read head, the share of output steps
  whose most-read slot is the slot due, the one written most at the
  matching input step (the copy layout: the i-th output step recalls the
  i-th input step), at the head's best lead: a head may read 1 or 2 items
  ahead of the output it serves (`read_hits`' docstring).
- `link` (with `--link_sparsity=K`): the dense link (`memax.ops.dnc_link`)
  and the sparse one (`dnc_sparse_link`, K entries a row) built from the
  same write weights over the whole example; `next_dense` and
  `next_sparse` are the mean entry `L[slot of stored step i + 1, slot of
  stored step i]` at the last step, `mass_dense` and `mass_sparse` the
  sums of their entries, `max_abs_diff` the largest difference of the two
  matrices.

The functions below take the arrays themselves, for use in notebooks.
"""

import glob
import json
import os
from typing import Any, Sequence

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from memax import ops

_ARRAYS = flags.DEFINE_list(
    'arrays', None, 'Saved arrays: `.npz` files, or evaluation folders '
    '(every `.npz` in them), comma-separated.')
_LINK_SPARSITY = flags.DEFINE_integer(
    'link_sparsity', 0, 'K > 0 also compares the sparse link with K entries '
    'a row to the dense link, built from the example\'s write weights.')

# Read modes in the DNC's order (`memax.ops.dnc_read_weights`).
MODES = ('backward', 'content', 'forward')


def copy_alignment(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """`(stored, output)` step indices of the copy layout, paired in order.

  `mask [T]`: 1 at the output steps. The i-th output step recalls the i-th
  input step (steps `0 .. L - 1` hold the L stored items, the outputs come
  after them). Raises `ValueError` where the mask does not fit the layout.
  """
  mask = np.asarray(mask)
  if mask.ndim != 1:
    raise ValueError(f'mask: expected one example [T], got shape {mask.shape}.')
  output = np.flatnonzero(mask > 0)
  if not output.size:
    raise ValueError('mask: no output steps (mask > 0 nowhere).')
  if output[0] < output.size:
    raise ValueError(
        f'mask: {output.size} output steps start at step {output[0]}, so '
        'fewer steps come before them than outputs: not the copy layout.')
  return np.arange(output.size), output


def read_mode_shares(read_modes: np.ndarray, steps: np.ndarray) -> np.ndarray:
  """`[R, 3]`: each head's mean read mode over `steps` (`read_modes [T, R, 3]`)."""
  read_modes = np.asarray(read_modes)
  if read_modes.ndim != 3 or read_modes.shape[-1] != len(MODES):
    raise ValueError('aux.read_modes: expected [T, R, 3], got shape '
                     f'{read_modes.shape}.')
  return read_modes[steps].mean(0)


def written_slots(write_weights: np.ndarray, steps: np.ndarray) -> np.ndarray:
  """`[len(steps)]`: the slot written most at each step (write heads summed).

  `write_weights`: `[T, N]` or `[T, W, N]` (W write heads)."""
  w = np.asarray(write_weights)
  if w.ndim == 3:
    w = w.sum(1)
  if w.ndim != 2:
    raise ValueError('aux.write_weights: expected [T, N] or [T, W, N], got '
                     f'shape {np.shape(write_weights)}.')
  return w[steps].argmax(-1)


def read_hits(read_weights: np.ndarray, write_weights: np.ndarray,
              stored: np.ndarray, output: np.ndarray, max_lead: int = 3
              ) -> tuple[np.ndarray, np.ndarray]:
  """Per read head, how often its most-read slot is the slot due.

  `read_weights [T, R, N]`, `write_weights [T, (W,) N]`; `stored` and
  `output` are paired step indices of equal length (`copy_alignment`): the
  i-th output recalls the item written at `stored[i]`. A head may read
  ahead of (or behind) the output it serves, since the reads reach the
  output through the controller's next steps too: for a lead `d` in
  `-max_lead .. max_lead`, the head hits at output `i` when its most-read
  slot is the slot written most at `stored[i + d]`.

  Returns `(shares [R], leads [R])`: each head's best lead and its share of
  hits over the pairs that lead leaves in range."""
  read_weights = np.asarray(read_weights)
  if read_weights.ndim != 3:
    raise ValueError('aux.read_weights: expected [T, R, N], got shape '
                     f'{read_weights.shape}.')
  if len(stored) != len(output):
    raise ValueError(f'{len(stored)} stored steps against {len(output)} '
                     'output steps: expected pairs.')
  if read_weights.shape[-1] != np.shape(write_weights)[-1]:
    raise ValueError(
        f'aux.read_weights over {read_weights.shape[-1]} slots against '
        f'aux.write_weights over {np.shape(write_weights)[-1]}: expected one '
        'memory (a DAM reads its blocks together; not supported here).')
  due = written_slots(write_weights, stored)             # [L]
  read = read_weights[output].argmax(-1)                 # [L, R]
  n = len(due)
  leads = [d for d in range(-max_lead, max_lead + 1) if abs(d) < n]
  shares = np.stack([(read[max(0, -d):n - max(0, d)]
                      == due[max(0, d):n - max(0, -d), None]).mean(0)
                     for d in leads])                    # [leads, R]
  best = shares.argmax(0)
  return shares[best, np.arange(shares.shape[1])], np.asarray(leads)[best]


def _links(write_weights: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
  """The dense and sparse links after every write of `write_weights [T, N]`."""
  n = write_weights.shape[-1]

  def step(carry, w):
    dense, sparse, precedence = carry
    dense = ops.dnc_link(dense, precedence, w)
    sparse = ops.dnc_sparse_link(sparse, precedence, w)
    return (dense, sparse, ops.dnc_precedence(precedence, w)), None

  init = (jnp.zeros((n, n), write_weights.dtype), ops.SparseLink.empty(
      n, k, write_weights.dtype), jnp.zeros((n,), write_weights.dtype))
  (dense, sparse, _), _ = jax.lax.scan(step, init, write_weights)
  return dense, ops.dnc_sparse_link_to_dense(sparse)


_links_jit = jax.jit(_links, static_argnums=1)


def link_comparison(write_weights: np.ndarray, k: int,
                    stored: np.ndarray) -> dict[str, float]:
  """The dense link and the sparse one (K entries a row) from the same writes.

  `write_weights [T, N]` or `[T, 1, N]` (one write head; the DNC's link
  follows one). Returns `next_dense` and `next_sparse`, the mean over
  consecutive `stored` steps of `L[slot written at i + 1, slot written at
  i]` after the last step, `mass_dense` and `mass_sparse` the sums of
  all entries (each row sums to at most 1), and `max_abs_diff`, the
  largest entry of `|L_dense - L_sparse|` there."""
  w = np.asarray(write_weights, np.float32)
  if w.ndim == 3:
    if w.shape[1] != 1:
      raise ValueError(f'aux.write_weights: {w.shape[1]} write heads; the '
                       'link comparison follows one.')
    w = w[:, 0]
  if w.ndim != 2:
    raise ValueError('aux.write_weights: expected [T, N] or [T, 1, N], got '
                     f'shape {np.shape(write_weights)}.')
  if not 0 < k <= w.shape[1]:
    raise ValueError(f'--link_sparsity={k}: expected 1 to the number of '
                     f'slots, {w.shape[1]}.')
  if len(stored) < 2:
    raise ValueError('link_comparison needs at least two stored steps.')
  dense, sparse = (np.asarray(x) for x in _links_jit(jnp.asarray(w), k))
  slots = written_slots(w, stored)
  nxt, this = slots[1:], slots[:-1]
  return {'next_dense': float(dense[nxt, this].mean()),
          'next_sparse': float(sparse[nxt, this].mean()),
          'mass_dense': float(dense.sum()), 'mass_sparse': float(sparse.sum()),
          'max_abs_diff': float(np.abs(dense - sparse).max())}


def _rounded(x: np.ndarray) -> list[float]:
  return [round(float(v), 4) for v in np.asarray(x).ravel()]


def _require(arrays: Any, path: str, key: str) -> np.ndarray:
  if key not in arrays:
    raise ValueError(f'{path}: no array {key!r} (it has '
                     f'{", ".join(sorted(arrays))}); save the evaluation with '
                     '--config.evals.arrays=True from a model that returns it.')
  return arrays[key]


def analyse(path: str, link_sparsity: int = 0) -> dict[str, Any]:
  """Everything above for one saved `.npz` (module docstring)."""
  with np.load(path) as f:
    arrays = dict(f)
  stored, output = copy_alignment(_require(arrays, path, 'mask'))
  out: dict[str, Any] = {'file': path,
                         'variant': os.path.splitext(os.path.basename(path))[0],
                         'output_steps': int(output.size)}
  if 'aux.read_modes' in arrays:
    shares = read_mode_shares(arrays['aux.read_modes'], output)
    out['read_modes'] = {m: _rounded(shares[:, i])
                         for i, m in enumerate(MODES)}
    out['heads_forward'] = int((shares[:, 2] > 0.5).sum())
  write = _require(arrays, path, 'aux.write_weights')
  shares, leads = read_hits(_require(arrays, path, 'aux.read_weights'),
                            write, stored, output)
  out['read_hits'] = _rounded(shares)
  out['read_lead'] = leads.tolist()
  if link_sparsity:
    out['link'] = {k: round(v, 5) for k, v in link_comparison(
        write, link_sparsity, stored).items()}
  return out


def npz_files(paths: Sequence[str]) -> list[str]:
  """`paths`' `.npz` files: files as given, folders' own `.npz` sorted."""
  files = []
  for p in paths:
    if os.path.isdir(p):
      found = sorted(glob.glob(os.path.join(p, '*.npz')))
      if not found:
        raise ValueError(f'{p}: no .npz in this folder (evaluate with '
                         '--config.evals.arrays=True).')
      files += found
    elif os.path.isfile(p) and p.endswith('.npz'):
      files.append(p)
    else:
      raise ValueError(f'--arrays: {p} is neither an .npz file nor a folder.')
  return files


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  if not _ARRAYS.value:
    raise app.UsageError('Give --arrays=<.npz or evaluation folder>[,...].')
  try:
    for path in npz_files(_ARRAYS.value):
      print(json.dumps(analyse(path, _LINK_SPARSITY.value)), flush=True)
  except ValueError as e:
    raise SystemExit(f'memax.analysis: {e}') from None


if __name__ == '__main__':
  app.run(main)
