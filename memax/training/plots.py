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


def plot_attention(path: str, attention: np.ndarray, sentences: list[str],
                   question: str, answer: str, prediction: str,
                   title: str = '') -> str:
  """Attention over a story's sentences, one column per hop.

  Args:
    path: output PNG path.
    attention: `[K, M]` weights of each hop over the memory slots.
    sentences: `M` slot texts ('' for empty slots, which are not drawn).
    question: the question text.
    answer: the true answer.
    prediction: the model's answer.
    title: figure title.

  Returns:
    `path`.
  """
  attention = np.asarray(attention)
  keep = [i for i, s in enumerate(sentences) if s]
  image = attention[:, keep].T  # [sentences, hops]
  labels = [f'{i}: {sentences[i]}' for i in keep]
  height = 1.5 + 0.28 * max(len(keep), 1)
  fig, ax = plt.subplots(figsize=(8, height))
  im = ax.imshow(image, aspect='auto', interpolation='nearest', cmap='Blues',
                 vmin=0.0, vmax=max(1e-6, float(image.max(initial=0.0))))
  ax.set_yticks(range(len(keep)))
  ax.set_yticklabels(labels, fontsize=8)
  ax.set_xticks(range(attention.shape[0]))
  ax.set_xticklabels([f'hop {k + 1}' for k in range(attention.shape[0])])
  ax.set_xlabel('hop')
  ax.set_ylabel('story sentence (memory slot)')
  for (r, c), v in np.ndenumerate(image):
    if v >= 0.05:
      ax.text(c, r, f'{v:.2f}', ha='center', va='center', fontsize=7,
              color='white' if v > 0.5 else 'black')
  fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02)
  verdict = 'right' if answer == prediction else 'wrong'
  ax.set_title(f'Q: {question}?  answer: {answer}  predicted: {prediction} '
               f'({verdict})', fontsize=9)
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path
