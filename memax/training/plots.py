"""PNG plots of one example: input, target, output and the memory weightings."""

import os
import textwrap
from typing import Mapping, NamedTuple, Sequence

import matplotlib
matplotlib.use('Agg')
import matplotlib.figure  # pylint: disable=g-import-not-at-top
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
from matplotlib import ticker  # pylint: disable=g-import-not-at-top
import numpy as np


class Panel(NamedTuple):
  """One row of `example_figure`.

  Attributes:
    title: the panel's title.
    image: `[rows, T]`.
    ylabel: what a row is.
    groups: labels of equal runs of rows (DAM's blocks stacked in one
      panel), marked by lines between them and a tick at each one's centre;
      empty when the rows are not grouped.
  """
  title: str
  image: np.ndarray
  ylabel: str
  groups: tuple[str, ...] = ()


def _stacked(values: np.ndarray) -> np.ndarray:
  """`[T, G, N]` as `[G N, T]`, group-major: row `g N + n` is slot n of g."""
  return values.reshape(values.shape[0], -1).T


def _bank_panels(aux: Mapping[str, np.ndarray]) -> list[Panel]:
  """A memory of one bank (NTM, DNC): a panel per head, the DNC's usage,
  allocation and read modes."""
  panels = []
  for name in ('write_weights', 'read_weights'):
    if name in aux:
      weights = np.asarray(aux[name])
      kind = name.split('_')[0]
      panels.extend(Panel(f'{kind} weighting, head {row}', weights[:, row].T,
                          'memory slot') for row in range(weights.shape[1]))
  # The DNC's memory management: usage and allocation over the slots and
  # the read modes of each head (the gates: `example_panels`).
  for name, label in (('usage', 'usage'), ('allocation', 'allocation '
                                           'weighting')):
    if name not in aux:
      continue
    values = np.asarray(aux[name])
    if values.ndim == 3:  # [T, H, N]: the allocation of each write head.
      panels.extend(Panel(f'{label}, write head {h}', values[:, h].T,
                          'memory slot') for h in range(values.shape[1]))
    else:
      panels.append(Panel(label, values.T, 'memory slot'))
  if 'read_modes' in aux:
    modes = np.asarray(aux['read_modes'])
    for head in range(modes.shape[1]):
      panels.append(Panel(f'read modes, head {head} (rows: backward, '
                          'content, forward)', modes[:, head].T, 'mode'))
  return panels


def example_panels(inputs: np.ndarray, targets: np.ndarray,
                   outputs: np.ndarray, mask: np.ndarray,
                   aux: Mapping[str, np.ndarray]) -> list[Panel]:
  """The panels of `plot_example`, one `Panel` per row of the figure.

  A memory of one bank (NTM, DNC) gets a panel per head. DAM's memory of K
  blocks (its aux has an `attentive_gate`) gets a panel per read head with
  the K blocks stacked, and one each for the write weightings, the usage,
  the allocation, the attentive gate and the gates, so a 6-block, 4-head
  model draws 12 panels (it drew 50, one per block and head).
  """
  masked = mask[:, None] > 0
  if np.ndim(targets) == 1:  # Class labels `[T]`: one-hot over the classes.
    targets = np.eye(outputs.shape[-1])[np.asarray(targets)]
    target, output, row = 'target class', 'output p(class)', 'class'
  else:
    target, output, row = 'target', 'output p(bit = 1)', 'output bit'
  panels = [Panel('input', inputs.T, 'input channel'),
            Panel(f'{target} (masked steps)', (targets * masked).T, row),
            Panel(output, (outputs * masked).T, row)]
  return panels + memory_panels(aux, len(inputs))


def memory_panels(aux: Mapping[str, np.ndarray], num_steps: int
                  ) -> list[Panel]:
  """The memory's panels of `example_panels` (all but input, target and
  output): the weightings, usage, allocation, attentive gate and gates in
  `aux` (`example_figure` lists them), none for a model without memory.

  Args:
    aux: one example's auxiliary outputs, `[T, ...]` each.
    num_steps: `T`.
  """
  panels = []
  if 'attentive_gate' in aux:  # DAM.
    gate = np.asarray(aux['attentive_gate'])  # [T, R, K].
    heads, blocks = gate.shape[1:]
    block_names = tuple(f'block {k}' for k in range(blocks))

    def stacked(title: str, values: np.ndarray) -> Panel:  # [T, K, N].
      return Panel(f'{title}, blocks stacked', _stacked(values), 'block, slot',
                   block_names)

    if 'write_weights' in aux:
      panels.append(stacked('write weighting',
                            np.asarray(aux['write_weights'])))
    if 'read_weights' in aux:  # [T, K R, N], row k R + i: head i, block k.
      weights = np.asarray(aux['read_weights'])
      weights = weights.reshape(len(weights), blocks, heads, -1)
      panels.extend(stacked(f'read weighting (gated), head {i}',
                            weights[:, :, i]) for i in range(heads))
    panels.extend(stacked(label, np.asarray(aux[name]))
                  for name, label in (('usage', 'usage'),
                                      ('allocation', 'allocation weighting'))
                  if name in aux)
    panels.append(Panel('attentive gate over blocks, read heads stacked',
                        _stacked(gate), 'head, block',
                        tuple(f'head {i}' for i in range(heads))))
  else:
    panels.extend(_bank_panels(aux))
  gates = [(n, np.asarray(aux[n]).reshape(num_steps, -1))
           for n in ('write_gate', 'allocation_gate', 'free_gates')
           if n in aux]
  if gates:
    dam = 'attentive_gate' in aux
    per_block = ', each per block' if dam else ''

    def name(n: str, g: np.ndarray) -> str:  # the DNC's write heads' gates
      heads = g.shape[1] if n != 'free_gates' and not dam else 1
      return n.replace('_', ' ') + (f's of {heads} write heads'
                                    if heads > 1 else '')

    panels.append(Panel('gates (rows: ' + ', '.join(
        name(n, g) for n, g in gates) + per_block + ')',
                        np.concatenate([g for _, g in gates], axis=1).T,
                        'gate'))
  return panels


def _panel_height(rows: int) -> float:
  """Inches for a panel of `rows` rows: 1.6 up to 16 rows, then taller,
  at most 3.2 (a 120-row stack of blocks gets about 2.9)."""
  return 1.6 + min(1.6, 0.0125 * max(0, rows - 16))


def example_figure(inputs: np.ndarray, targets: np.ndarray,
                   outputs: np.ndarray, mask: np.ndarray,
                   aux: Mapping[str, np.ndarray], title: str = ''):
  """One example over time, a panel per row (`example_panels`).

  Args:
    inputs: `[T, D]`.
    targets: `[T, O]` bits, or `[T]` int class labels (drawn one-hot).
    outputs: `[T, O]` probabilities (of each bit, or of the O classes).
    mask: `[T]` steps that count.
    aux: optional `read_weights [T, R, N]`, `write_weights [T, H, N]`; the
      DNC's `usage [T, N]`, `allocation [T, N]` (`[T, H, N]` with H > 1
      write heads), `read_modes [T, R, 3]`,
      `write_gate [T]`, `allocation_gate [T]` and `free_gates [T, R]`;
      DAM's `write_weights [T, K, N]`, `read_weights [T, K R, N]` (row
      `k R + i` head i on block k), `usage` and `allocation` `[T, K, N]`
      per block and `attentive_gate [T, R, K]`.
    title: figure title.

  Returns:
    The matplotlib figure (still open).
  """
  panels = example_panels(inputs, targets, outputs, mask, aux)
  fig, axes = _panels_figure(panels, 10.0, title)
  axes[-1].set_xlabel('time step')
  return fig


def _panels_figure(panels: Sequence[Panel], width: float, title: str):
  """`(figure, axes)`: one image per panel, stacked, sharing the time
  axis, each with its title, row labels and colour bar."""
  heights = [_panel_height(len(p.image)) for p in panels]
  # Constrained layout leaves room for the suptitle (tight_layout let it
  # overlap the first panel's title).
  fig, axes = plt.subplots(len(panels), 1, figsize=(width, sum(heights) + 1),
                           squeeze=False, layout='constrained', sharex=True,
                           gridspec_kw={'height_ratios': heights})
  for ax, panel in zip(axes[:, 0], panels):
    image = panel.image
    im = ax.imshow(image, aspect='auto', interpolation='nearest',
                   cmap='viridis', vmin=0.0, vmax=max(1e-6, image.max()))
    ax.set_title(panel.title, fontsize=9)
    ax.set_ylabel(panel.ylabel, fontsize=8)
    if panel.groups:  # A tick per group, a line between groups.
      size = len(image) / len(panel.groups)
      ax.set_yticks([size * (g + 0.5) - 0.5 for g in range(len(panel.groups))])
      ax.set_yticklabels(panel.groups, fontsize=7)
      for g in range(1, len(panel.groups)):
        ax.axhline(size * g - 0.5, color='white', linewidth=0.8)
    else:
      ax.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))  # rows.
    fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
  if title:
    fig.suptitle(title)
  return fig, axes[:, 0]


def plot_example(path: str, inputs: np.ndarray, targets: np.ndarray,
                 outputs: np.ndarray, mask: np.ndarray,
                 aux: Mapping[str, np.ndarray], title: str = '') -> str:
  """Writes `example_figure` of one example to the PNG `path`; returns it."""
  fig = example_figure(inputs, targets, outputs, mask, aux, title)
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path


class Answer(NamedTuple):
  """One answer step of a story (`story_figure`).

  Attributes:
    step: its time step.
    target: the right answer word.
    prediction: the model's word (argmax).
  """
  step: int
  target: str
  prediction: str


# Inches per labelled time step of `story_figure`, and its widths.
_STEP_INCHES, _MIN_WIDTH, _MAX_WIDTH = 0.11, 10.0, 40.0


def story_figure(words: Sequence[str], answers: Sequence[Answer],
                 outputs: np.ndarray, vocab: Sequence[str],
                 aux: Mapping[str, np.ndarray], title: str = ''
                 ) -> matplotlib.figure.Figure:
  """The figure of `plot_story` (not saved; close it when done)."""
  steps = len(words)
  outputs = np.asarray(outputs)
  if outputs.shape[0] != steps:
    raise ValueError(f'{steps} words but outputs for {outputs.shape[0]} '
                     'steps.')
  answer_steps = np.array([a.step for a in answers], dtype=np.int64)
  # The words the story answers or the model predicts, in order of first
  # appearance: their probability at each answer step.
  shown = list(dict.fromkeys(w for a in answers
                             for w in (a.target, a.prediction)))
  ids = [list(vocab).index(w) for w in shown]
  image = np.zeros((len(shown), steps))
  if len(answers):
    image[:, answer_steps] = outputs[answer_steps][:, ids].T
  right = sum(a.target == a.prediction for a in answers)
  if not shown:  # No answer step: an empty row keeps the panel.
    image, shown = np.zeros((1, steps)), ['(none)']
  panels = [Panel(f'output p(word) at the answer steps ({right} of '
                  f'{len(answers)} answer words right)', image, 'word',
                  tuple(shown))] + memory_panels(aux, steps)
  width = min(_MAX_WIDTH, max(_MIN_WIDTH, 2.0 + _STEP_INCHES * steps))
  fig, axes = _panels_figure(panels, width, title)
  for ax in axes:  # The answer steps, across every panel.
    for t in answer_steps:
      ax.axvline(t, color='white', linewidth=0.6, linestyle=':')
  # A label per step while they fit, else every k-th (answers always).
  every = max(1, int(np.ceil(steps * _STEP_INCHES / (width - 2.0))))
  by_step = {a.step: a for a in answers}
  ticks = sorted(set(range(0, steps, every)) | set(by_step))
  labels = []
  for t in ticks:
    a = by_step.get(t)
    labels.append(words[t] if a is None else
                  a.prediction + ('' if a.prediction == a.target
                                  else f' (not {a.target})'))
  ax = axes[-1]
  ax.set_xticks(ticks)
  ax.set_xticklabels(labels, rotation=90, fontsize=6)
  for t, label in zip(ticks, ax.get_xticklabels()):
    a = by_step.get(t)
    if a is not None:
      label.set_color('tab:green' if a.prediction == a.target else 'tab:red')
      label.set_fontweight('bold')
  ax.set_xlabel('input word at each step; at the answer steps ("-" in the '
                'input) the model\'s word, green when right, red (with the '
                'right word) when wrong', fontsize=8)
  return fig


def plot_story(path: str, words: Sequence[str], answers: Sequence[Answer],
               outputs: np.ndarray, vocab: Sequence[str],
               aux: Mapping[str, np.ndarray], title: str = '') -> str:
  """A story read word by word: the output and the memory at every step.

  The time axis is labelled with the input words; the answer steps are
  dotted lines through every panel and labelled with the model's answer.
  The first panel is the probability of each word the story answers or
  the model predicts, at the answer steps; the rest are `memory_panels`.

  Args:
    path: output PNG path.
    words: `T` input words, one per step.
    answers: the answer steps.
    outputs: `[T, V]` output probabilities over the vocabulary.
    vocab: the `V` words.
    aux: the model's auxiliary outputs, `[T, ...]` each (`example_figure`).
    title: figure title.

  Returns:
    `path`.
  """
  fig = story_figure(words, answers, outputs, vocab, aux, title)
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path


def text_color(rgba) -> str:
  """'black' or 'white', whichever reads better on a cell of colour `rgba`.

  Uses the relative luminance of the colour (WCAG 2): above 0.179 black text
  has the higher contrast, below it white text.

  Args:
    rgba: an RGB or RGBA colour with components in [0, 1].

  Returns:
    A matplotlib colour name.
  """
  rgb = np.asarray(rgba, dtype=np.float64)[:3]
  linear = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
  luminance = float(np.dot([0.2126, 0.7152, 0.0722], linear))
  return 'black' if luminance > 0.179 else 'white'


def attention_figure(attention: np.ndarray, sentences: list[str],
                     question: str, answer: str, prediction: str,
                     title: str = '', *, probabilities: bool = True
                     ) -> matplotlib.figure.Figure:
  """The figure of `plot_attention` (not saved; close it when done)."""
  attention = np.asarray(attention, dtype=np.float64)
  keep = [i for i, s in enumerate(sentences) if s]
  image = attention[:, keep].T  # [sentences, hops]
  hops = attention.shape[0]
  labels = [f'{i}: {sentences[i]}' for i in keep]
  # Rows of 0.28 in, and at least the height that the two-line y label, the
  # titles, the hop labels and the colour bar label need.
  height = max(3.4, 1.9 + 0.28 * max(len(keep), 1))
  fig, ax = plt.subplots(figsize=(8, height))
  vmin = 0.0 if probabilities else min(0.0, float(image.min(initial=0.0)))
  vmax = max(vmin + 1e-6, float(image.max(initial=0.0)))
  im = ax.imshow(image, aspect='auto', interpolation='nearest', cmap='Blues',
                 vmin=vmin, vmax=vmax)
  ax.set_yticks(range(len(keep)))
  ax.set_yticklabels(labels, fontsize=8)
  ax.set_xticks(range(hops))
  ax.set_xticklabels([f'hop {k + 1}' for k in range(hops)], fontsize=8)
  ax.set_xlabel('hop', fontsize=9)
  ax.set_ylabel('story sentence\n(memory slot)', fontsize=9)
  for (r, c), v in np.ndenumerate(image):
    if abs(v) >= 0.05:
      ax.text(c, r, f'{v:.2f}', ha='center', va='center', fontsize=7,
              color=text_color(im.cmap(im.norm(v))))
  # As tall as the axes, however many rows.
  bar = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02,
                     aspect=20 * height / 3.4)
  if probabilities:
    bar.set_label('attention probability (softmax)', fontsize=8)
  else:
    bar.set_label('unnormalised attention score\n(linear start, no softmax)',
                  fontsize=8)
  bar.ax.tick_params(labelsize=7)
  verdict = 'right' if answer == prediction else 'wrong'
  heading = (f'Q: {question}?  answer: {answer}  predicted: {prediction} '
             f'({verdict})')
  if not probabilities:
    heading += '\nunnormalised attention scores (linear start, no softmax)'
  ax.set_title(heading, fontsize=9)
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  return fig


def plot_attention(path: str, attention: np.ndarray, sentences: list[str],
                   question: str, answer: str, prediction: str,
                   title: str = '', *, probabilities: bool = True) -> str:
  """Attention over a story's sentences, one column per hop.

  Each cell holds the weight of one hop (column) on one story sentence (row);
  its text is dark or light, whichever reads on the cell's colour.

  Args:
    path: output PNG path.
    attention: `[K, M]` weights of each hop over the memory slots.
    sentences: `M` slot texts ('' for empty slots, which are not drawn).
    question: the question text.
    answer: the true answer.
    prediction: the model's answer.
    title: figure title.
    probabilities: the weights are softmax probabilities. False: they are
      unnormalised scores (MemN2N's linear start, which drops the softmax),
      which the title and the colour bar then say.

  Returns:
    `path`.
  """
  fig = attention_figure(attention, sentences, question, answer, prediction,
                         title, probabilities=probabilities)
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path


def episode_figure(images: np.ndarray, labels: list[str],
                   predictions: list[str], aux: Mapping[str, np.ndarray],
                   title: str = '', *, columns: int = 25
                   ) -> matplotlib.figure.Figure:
  """The figure of `plot_episode` (not saved; close it when done)."""
  images = np.asarray(images)
  steps = images.shape[0]
  rows = -(-steps // columns)
  maps = [(name, np.asarray(aux[key])) for key, name in (
      ('read_weights', 'read weights'), ('write_weights', 'write weights'),
      ('usage', 'usage')) if key in aux]
  fig = plt.figure(figsize=(columns * 0.5 + 1, rows * 0.75 + 1.9 * len(maps)
                            + 0.8))
  grid = fig.add_gridspec(rows + len(maps), columns,
                          height_ratios=[0.75] * rows + [1.9] * len(maps))
  for t in range(steps):
    ax = fig.add_subplot(grid[t // columns, t % columns])
    ax.imshow(images[t], cmap='gray_r', vmin=0.0, vmax=1.0,
              interpolation='nearest')
    right = labels[t] == predictions[t]
    ax.set_title(f'{t}: {labels[t]}', fontsize=6, pad=1)
    ax.set_xlabel(predictions[t], fontsize=6, labelpad=1,
                  color='green' if right else 'red')
    ax.set_xticks([])
    ax.set_yticks([])
  for i, (name, values) in enumerate(maps):
    ax = fig.add_subplot(grid[rows + i, :])
    if values.ndim == 3:  # [T, heads, N]: the heads' sum, one map.
      heads = values.shape[1]
      values = values.sum(1)
      name = f'{name}, summed over {heads} heads'
    im = ax.imshow(values.T, aspect='auto', interpolation='nearest',
                   cmap='viridis', vmin=0.0, vmax=max(1e-6, values.max()))
    ax.set_title(name, fontsize=9)
    ax.set_ylabel('memory slot', fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.015, pad=0.005)
    if i == len(maps) - 1:
      ax.set_xlabel('time step (image index)', fontsize=8)
  heading = ('each image: step: true label; below it the prediction '
             '(green right, red wrong)')
  if title:
    heading = textwrap.fill(title, 160) + "\n" + heading
  fig.suptitle(heading, fontsize=9)
  fig.tight_layout()
  return fig


def plot_episode(path: str, images: np.ndarray, labels: list[str],
                 predictions: list[str], aux: Mapping[str, np.ndarray],
                 title: str = '') -> str:
  """One episode of a one-shot task: images, labels, predictions, memory.

  Args:
    path: output PNG path.
    images: `[T, S, S]` the episode's images in [0, 1] (ink bright).
    labels: `T` true labels as text.
    predictions: `T` predicted labels as text.
    aux: optional `read_weights [T, R, N]`, `write_weights [T, R, N]`,
      `usage [T, N]`: drawn as maps over time (heads summed).
    title: figure title.

  Returns:
    `path`.
  """
  fig = episode_figure(images, labels, predictions, aux, title)
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path
