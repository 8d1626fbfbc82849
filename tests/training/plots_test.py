"""Tests for `memax.training.plots`: the bAbI attention plot and the
per-example plot of the recurrent models."""

import os
import tempfile

from absl.testing import absltest
from absl.testing import parameterized
import matplotlib
import matplotlib.colors
import matplotlib.pyplot as plt
import matplotlib.text
import numpy as np

from memax.training import plots

_WORDS = ('mary', 'john', 'daniel', 'sandra')
_PLACES = ('kitchen', 'garden', 'office', 'bedroom', 'hallway', 'bathroom')


def _story(n, empty=2):
  """`n` sentences, then `empty` empty slots."""
  return [f'{_WORDS[i % 4]} went to the {_PLACES[i % 6]}'
          for i in range(n)] + [''] * empty


def _attention(n, hops=3, seed=0):
  """`[hops, n + 2]` softmax weights over n sentences and 2 empty slots."""
  logits = np.random.default_rng(seed).normal(size=(hops, n)) * 2.0
  p = np.exp(logits - logits.max(-1, keepdims=True))
  return np.concatenate([p / p.sum(-1, keepdims=True),
                         np.zeros((hops, 2))], 1)


def _figure(attention, sentences, **kwargs):
  return plots.attention_figure(attention, sentences, 'where is mary',
                                'kitchen', 'garden', **kwargs)


def _luminance(color):
  return float(np.dot([0.2126, 0.7152, 0.0722],
                      matplotlib.colors.to_rgb(color)))


class PlotAttentionTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.addCleanup(plt.close, 'all')

  def test_writes_a_png(self):
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, 'plots', 'attention.png')
      # Positional arguments as before `probabilities` was added.
      out = plots.plot_attention(path, _attention(3), _story(3),
                                 'where is mary', 'kitchen', 'kitchen',
                                 'memn2n on test example 0')
      self.assertEqual(out, path)
      with open(path, 'rb') as f:
        self.assertEqual(f.read(8), b'\x89PNG\r\n\x1a\n')
      plots.plot_attention(path, _attention(3), _story(3), 'where is mary',
                           'kitchen', 'garden', probabilities=False)
      self.assertGreater(os.path.getsize(path), 0)

  @parameterized.parameters((1, True), (2, True), (3, False), (12, True))
  def test_labels_lie_inside_the_figure(self, n, probabilities):
    fig = _figure(_attention(n), _story(n), title='memn2n on test example 0',
                  probabilities=probabilities)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax, bar = fig.axes
    box = fig.bbox
    for text in (ax.yaxis.label, ax.xaxis.label, ax.title, bar.yaxis.label,
                 fig._suptitle):  # pylint: disable=protected-access
      extent = text.get_window_extent(renderer)
      self.assertTrue(text.get_text())
      self.assertGreaterEqual(extent.x0, box.x0, msg=text.get_text())
      self.assertGreaterEqual(extent.y0, box.y0, msg=text.get_text())
      self.assertLessEqual(extent.x1, box.x1, msg=text.get_text())
      self.assertLessEqual(extent.y1, box.y1, msg=text.get_text())

  def test_cell_text_colour_follows_the_cell_colour(self):
    # Scores up to 10: 0.6 and 1.2 are pale cells (dark text), 9.0 and 10.0
    # dark cells (light text), whatever their value against 0.5.
    scores = np.array([[10.0, 0.6, 1.2, 9.0]])
    fig = _figure(scores, _story(4, empty=0), probabilities=False)
    ax = fig.axes[0]
    image = ax.images[0]
    colors = {t.get_text(): t.get_color() for t in ax.texts}
    self.assertLen(colors, 4)
    for value in scores[0]:
      cell = _luminance(image.cmap(image.norm(value)))
      text = _luminance(colors[f'{value:.2f}'])
      if cell > 0.5:
        self.assertLess(text, 0.5, msg=value)
      else:
        self.assertGreater(text, 0.5, msg=value)
      self.assertGreater(abs(cell - text), 0.4, msg=value)
    self.assertGreater(_luminance(image.cmap(image.norm(0.6))), 0.5)
    self.assertLess(_luminance(image.cmap(image.norm(10.0))), 0.5)

  def test_text_color(self):
    self.assertEqual(plots.text_color((1.0, 1.0, 1.0, 1.0)), 'black')
    self.assertEqual(plots.text_color((0.03, 0.19, 0.42)), 'white')

  @parameterized.parameters(True, False)
  def test_says_whether_cells_are_probabilities(self, probabilities):
    fig = _figure(_attention(5) * 3.14, _story(5),
                  probabilities=probabilities)
    texts = ' '.join(t.get_text()
                     for t in fig.findobj(matplotlib.text.Text)).lower()
    bar = fig.axes[1].get_ylabel().lower()
    title = fig.axes[0].get_title().lower()
    if probabilities:
      self.assertIn('probability', bar)
      self.assertNotIn('unnormalised', texts)
    else:
      for where in (bar, title):
        self.assertIn('unnormalised attention score', where)
        self.assertIn('linear start, no softmax', where)
      self.assertNotIn('probability', bar)


class PlotExampleTest(absltest.TestCase):

  def test_dnc_panels_and_png(self):
    t, n, r = 6, 5, 2
    rng = np.random.default_rng(0)
    aux = {'write_weights': rng.uniform(size=(t, 1, n)),
           'read_weights': rng.uniform(size=(t, r, n)),
           'usage': rng.uniform(size=(t, n)),
           'allocation': rng.uniform(size=(t, n)),
           'read_modes': rng.uniform(size=(t, r, 3)),
           'write_gate': rng.uniform(size=t),
           'allocation_gate': rng.uniform(size=t),
           'free_gates': rng.uniform(size=(t, r))}
    args = (np.zeros((t, 4)), np.ones((t, 3)), np.ones((t, 3)), np.ones(t))
    panels = plots.example_panels(*args, aux)
    titles = [p[0] for p in panels]
    self.assertEqual(len(panels), 3 + 1 + r + 2 + r + 1)
    self.assertIn('usage', titles)
    np.testing.assert_array_equal(panels[titles.index('usage')][1],
                                  aux['usage'].T)
    gates = panels[-1]
    self.assertEqual(gates[1].shape, (1 + 1 + r, t))
    np.testing.assert_array_equal(gates[1][2:], aux['free_gates'].T)
    self.assertEqual(len(plots.example_panels(*args, {})), 3)
    # Two write heads: a write weighting, an allocation and gates for each.
    two = dict(aux, write_weights=rng.uniform(size=(t, 2, n)),
               allocation=rng.uniform(size=(t, 2, n)),
               write_gate=rng.uniform(size=(t, 2)),
               allocation_gate=rng.uniform(size=(t, 2)))
    panels = plots.example_panels(*args, two)
    titles = [p.title for p in panels]
    self.assertEqual(len(panels), 3 + 2 + r + 1 + 2 + r + 1)
    np.testing.assert_array_equal(
        panels[titles.index('allocation weighting, write head 1')].image,
        two['allocation'][:, 1].T)
    self.assertEqual(panels[-1].image.shape, (2 + 2 + r, t))
    self.assertEqual(panels[-1].title, 'gates (rows: write gates of 2 write '
                     'heads, allocation gates of 2 write heads, free gates)')
    with tempfile.TemporaryDirectory() as tmp:
      path = plots.plot_example(os.path.join(tmp, 'x.png'), *args, aux)
      with open(path, 'rb') as f:
        self.assertEqual(f.read(8), b'\x89PNG\r\n\x1a\n')

  def test_class_labels_drawn_one_hot(self):
    # Convex hull, N-th farthest: int targets `[T]`, softmax outputs `[T, C]`.
    t, c = 5, 4
    targets = np.array([0, 0, 3, 1, 2])
    mask = np.array([0, 0, 1, 1, 0])
    outputs = np.full((t, c), 0.25)
    panels = plots.example_panels(np.zeros((t, 2)), targets, outputs, mask,
                                  {})
    target, output = panels[1], panels[2]
    self.assertEqual(target.title, 'target class (masked steps)')
    self.assertEqual(output.title, 'output p(class)')
    expected = np.zeros((c, t))
    expected[3, 2] = expected[1, 3] = 1.0
    np.testing.assert_array_equal(target.image, expected)
    np.testing.assert_array_equal(output.image,
                                  0.25 * np.tile(mask, (c, 1)))

  def test_dam_blocks_stacked_in_a_panel_per_head(self):
    t, n, k, r = 4, 5, 3, 2
    rng = np.random.default_rng(1)
    aux = {'write_weights': rng.uniform(size=(t, k, n)),
           'read_weights': rng.uniform(size=(t, k * r, n)),
           'usage': rng.uniform(size=(t, k, n)),
           'allocation': rng.uniform(size=(t, k, n)),
           'attentive_gate': rng.uniform(size=(t, r, k)),
           'write_gate': rng.uniform(size=(t, k)),
           'allocation_gate': rng.uniform(size=(t, k)),
           'free_gates': rng.uniform(size=(t, k, r))}
    args = (np.zeros((t, 4)), np.ones((t, 3)), np.ones((t, 3)), np.ones(t))
    panels = plots.example_panels(*args, aux)
    self.assertEqual([p.title for p in panels[3:]], [
        'write weighting, blocks stacked',
        'read weighting (gated), head 0, blocks stacked',
        'read weighting (gated), head 1, blocks stacked',
        'usage, blocks stacked', 'allocation weighting, blocks stacked',
        'attentive gate over blocks, read heads stacked',
        'gates (rows: write gate, allocation gate, free gates, each per '
        'block)'])
    blocks = ('block 0', 'block 1', 'block 2')
    for panel in panels[3:8]:
      self.assertEqual(panel.image.shape, (k * n, t))
      self.assertEqual(panel.groups, blocks)
    # Row `b n + s` of head i's panel: slot s of block b, which the cell's
    # aux holds at row `b r + i`.
    for i in (0, 1):
      for b in range(k):
        np.testing.assert_array_equal(
            panels[4 + i].image[b * n:(b + 1) * n],
            aux['read_weights'][:, b * r + i].T)
    np.testing.assert_array_equal(panels[6].image[n:2 * n],
                                  aux['usage'][:, 1].T)
    gate = panels[8]
    self.assertEqual(gate.groups, ('head 0', 'head 1'))
    np.testing.assert_array_equal(gate.image[k:], aux['attentive_gate'][:, 1].T)
    self.assertEqual(panels[9].image.shape, (k + k + k * r, t))
    fig = plots.example_figure(*args, aux)
    try:
      read = fig.axes[4]  # Axes come before their colour bars.
      self.assertEqual(read.get_title(),
                       'read weighting (gated), head 0, blocks stacked')
      self.assertEqual([x.get_text() for x in read.get_yticklabels()],
                       list(blocks))
      self.assertLen(read.get_lines(), k - 1)  # The lines between blocks.
    finally:
      plt.close(fig)



class PlotStoryTest(absltest.TestCase):
  """The word-level bAbI story plot (`plots.story_figure`)."""

  _VOCAB = ('-', '.', '?', 'garden', 'is', 'kitchen', 'mary', 'office',
            'where')

  def setUp(self):
    super().setUp()
    self.addCleanup(plt.close, 'all')
    self.words = ['mary', 'kitchen', '.', 'where', '-', '?', '-']
    # Step 4 answered right, step 6 wrong (office for garden).
    self.answers = [plots.Answer(4, 'kitchen', 'kitchen'),
                    plots.Answer(6, 'garden', 'office')]
    logits = np.random.default_rng(2).normal(size=(7, len(self._VOCAB)))
    self.outputs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)

  def test_output_panel_and_answer_labels(self):
    t, n, k, r = 7, 5, 2, 2
    rng = np.random.default_rng(3)
    aux = {'write_weights': rng.uniform(size=(t, k, n)),
           'read_weights': rng.uniform(size=(t, k * r, n)),
           'attentive_gate': rng.uniform(size=(t, r, k))}
    fig = plots.story_figure(self.words, self.answers, self.outputs,
                             self._VOCAB, aux, title='dam on test story 0')
    axes = [a for a in fig.axes if a.get_images()]
    panels = axes[:1 + len(plots.memory_panels(aux, t))]
    self.assertLen(panels, 1 + 1 + r + 1)
    out = panels[0]
    self.assertEqual(out.get_title(),
                     'output p(word) at the answer steps (1 of 2 answer '
                     'words right)')
    shown = ['kitchen', 'garden', 'office']  # first appearance order.
    self.assertEqual([x.get_text() for x in out.get_yticklabels()], shown)
    expected = np.zeros((3, t))
    ids = [self._VOCAB.index(w) for w in shown]
    expected[:, 4] = self.outputs[4, ids]
    expected[:, 6] = self.outputs[6, ids]
    np.testing.assert_allclose(out.get_images()[0].get_array(), expected)
    # Every panel marks the two answer steps.
    for ax in panels:
      xs = sorted(line.get_xdata()[0] for line in ax.get_lines()
                  if line.get_linestyle() == ':')
      self.assertEqual(xs, [4, 6])
    bottom = panels[-1]
    labels = {int(t): x for t, x in zip(bottom.get_xticks(),
                                       bottom.get_xticklabels())}
    self.assertEqual(sorted(labels), list(range(t)))
    self.assertEqual(labels[0].get_text(), 'mary')
    self.assertEqual(labels[4].get_text(), 'kitchen')
    self.assertEqual(labels[6].get_text(), 'office (not garden)')
    self.assertEqual(matplotlib.colors.to_hex(labels[4].get_color()),
                     matplotlib.colors.to_hex('tab:green'))
    self.assertEqual(matplotlib.colors.to_hex(labels[6].get_color()),
                     matplotlib.colors.to_hex('tab:red'))
    self.assertEqual(fig.get_suptitle(), 'dam on test story 0')

  def test_long_story_labels_every_kth_word_and_every_answer(self):
    t = 1000
    words = ['mary'] * t
    answers = [plots.Answer(997, 'kitchen', 'kitchen')]
    outputs = np.full((t, len(self._VOCAB)), 1.0 / len(self._VOCAB))
    fig = plots.story_figure(words, answers, outputs, self._VOCAB, {})
    self.assertLessEqual(fig.get_figwidth(), 40.0)
    ticks = [int(x) for x in fig.axes[0].get_xticks()]
    self.assertIn(997, ticks)
    self.assertLess(len(ticks), t // 2)
    # An LSTM (no memory): the output panel only; a PNG is written.
    with tempfile.TemporaryDirectory() as tmp:
      path = plots.plot_story(os.path.join(tmp, 'p', 's.png'), words,
                              answers, outputs, self._VOCAB, {})
      with open(path, 'rb') as f:
        self.assertEqual(f.read(8), b'\x89PNG\r\n\x1a\n')

  def test_a_story_without_answer_steps_still_draws(self):
    fig = plots.story_figure(self.words, [], self.outputs, self._VOCAB, {})
    image = fig.axes[0].get_images()[0].get_array()
    np.testing.assert_array_equal(image, np.zeros((1, 7)))
    self.assertEqual(fig.axes[0].get_title(), 'output p(word) at the answer '
                     'steps (0 of 0 answer words right)')

  def test_outputs_must_match_the_words(self):
    with self.assertRaisesRegex(ValueError, '7 words but outputs for 6'):
      plots.story_figure(self.words, self.answers, self.outputs[:6],
                         self._VOCAB, {})


if __name__ == '__main__':
  absltest.main()
