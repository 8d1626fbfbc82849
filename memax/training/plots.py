"""PNG plots of one example: input, target, output and the memory weightings."""

import os
from typing import Mapping

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np


def plot_example(path: str, inputs: np.ndarray, targets: np.ndarray,
                 outputs: np.ndarray, mask: np.ndarray,
                 aux: Mapping[str, np.ndarray], title: str = '') -> str:
  """Plots one example over time and writes it to `path`.

  Args:
    path: output PNG path.
    inputs: `[T, D]`.
    targets: `[T, O]`.
    outputs: `[T, O]` probabilities.
    mask: `[T]` steps that count.
    aux: optional `read_weights [T, R, N]`, `write_weights [T, H, N]`.
    title: figure title.

  Returns:
    `path`.
  """
  panels = [('input', inputs.T, 'input channel'),
            ('target (masked steps)', (targets * mask[:, None]).T,
             'output bit'),
            ('output p(bit = 1)', (outputs * mask[:, None]).T, 'output bit')]
  for name in ('write_weights', 'read_weights'):
    if name in aux:
      weights = np.asarray(aux[name])
      for head in range(weights.shape[1]):
        label = f'{name.split("_")[0]} weighting, head {head}'
        panels.append((label, weights[:, head].T, 'memory slot'))
  fig, axes = plt.subplots(len(panels), 1, figsize=(10, 1.6 * len(panels) + 1),
                           squeeze=False)
  for ax, (name, image, ylabel) in zip(axes[:, 0], panels):
    im = ax.imshow(image, aspect='auto', interpolation='nearest',
                   cmap='viridis', vmin=0.0, vmax=max(1e-6, image.max()))
    ax.set_title(name, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
  axes[-1, 0].set_xlabel('time step')
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path
