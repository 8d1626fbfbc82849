"""Tests for `memax.ops.memnn` (Weston, Chopra & Bordes 2015, secs. 3.1, 3.4).

The NumPy references are written from the paper's equations in float64 with
explicit loops: the scoring function is built literally as
`Phi_x(x)^T U^T U Phi_y(y)` with one-hot feature vectors in `3|W|` (+3 time)
dimensions, which also checks that the per-role embedding tables of the ops
compute the same function. The ops are batched with `jax.vmap`, differentiated
with `check_grads`, and run on degenerate inputs under `jax.debug_nans`.
"""

import types

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from memax.ops import memnn
from tests.models import qa_testing
from tests.ops import grad_testing

_B = 3  # batch


# --- NumPy references: one example, float64, written from the equations. ---


def np_phi(word_lists, vocab_size, extra=0):
  """Bag-of-words indicator of sec. 3.1 in `D = 3|W| + extra` dimensions.

  `word_lists` is a list of `(block, words)`: block 0 = words of the input
  `x`, 1 = words of supporting memories on the input side, 2 = words of the
  candidate `y`. Word id 0 is padding and not a word.
  """
  phi = np.zeros(3 * vocab_size + extra)
  for block, words in word_lists:
    for w in words:
      if w != 0:
        phi[block * vocab_size + w] += 1.0
  return phi


def np_score(u, phi_x, phi_y):
  """Eq. 4: s(x, y) = Phi_x(x)^T U^T U Phi_y(y)."""
  return phi_x @ u.T @ u @ phi_y


def np_time_phi(vocab_size, query_time, t_y, t_y2, timed_y=True,
                timed_y2=True):
  """Sec. 3.4: Phi_t(x, y, y') in the 3 dimensions after the 3|W| blocks."""
  phi = np.zeros(3 * vocab_size + 3)
  phi[3 * vocab_size + 0] = float(timed_y and query_time < t_y)
  phi[3 * vocab_size + 1] = float(timed_y2 and query_time < t_y2)
  phi[3 * vocab_size + 2] = float(timed_y and timed_y2 and t_y < t_y2)
  return phi


def np_s_ot(u, vocab_size, query_words, support_words, y_words, y2_words,
            query_time, t_y, t_y2):
  """Sec. 3.4: s_Ot(x, y, y') = Phi_x^T U^T U (Phi_y(y) - Phi_y(y') + Phi_t)."""
  phi_x = np_phi([(0, query_words)] + [(1, w) for w in support_words],
                 vocab_size, extra=3)
  phi_y = np_phi([(2, y_words)], vocab_size, extra=3)
  phi_y2 = np_phi([(2, y2_words)], vocab_size, extra=3)
  phi_t = np_time_phi(vocab_size, query_time, t_y, t_y2)
  return np_score(u, phi_x, phi_y - phi_y2 + phi_t)


def np_ordered(pairwise, times):
  """Each pair scored older-first: the paper's loop compares (winner, next)."""
  n = len(times)
  out = np.zeros((n, n))
  for i in range(n):
    for j in range(n):
      if times[i] < times[j]:
        out[i, j] = pairwise[i, j]
      elif times[j] < times[i]:
        out[i, j] = -pairwise[j, i]
  return out


def np_paper_loop(pairwise, valid):
  """Sec. 3.4: loop over memories in write order, keep the winner.

  The current winner was written before the next memory `m_i`, so the
  comparison is `s_Ot(x, winner, m_i)`; the winner stays iff it is > 0.
  """
  winner = None
  for i in range(len(valid)):
    if not valid[i]:
      continue
    if winner is None or pairwise[winner, i] <= 0:
      winner = i
  return winner


def np_margin_loss(scores, target, negatives, mask, margin):
  """Eqs. 6-8: sum over negatives of max(0, gamma - s(f) + s(f_bar))."""
  total = 0.0
  for n, m in zip(negatives, mask):
    total += m * max(0.0, margin - scores[target] + scores[n])
  return total


def np_pairwise_loss(pairwise, target, negatives, mask, margin):
  """Sec. 3.4: max(0, g - s_Ot(f, f_bar)) + max(0, g + s_Ot(f_bar, f))."""
  total = 0.0
  for n, m in zip(negatives, mask):
    total += m * (max(0.0, margin - pairwise[target, n])
                  + max(0.0, margin + pairwise[n, target]))
  return total


def _random_case(seed, n=5, length=4, vocab=7, emb=3):
  """A random U (`[E, 3|W| + 3]`) and sentences with padding."""
  rng = np.random.default_rng(seed)
  u = rng.normal(size=(emb, 3 * vocab + 3))
  words = rng.integers(1, vocab, size=(n, length))
  words[:, length - 1] = 0  # a padding column
  words[1, 1:] = 0          # a short sentence
  query = rng.integers(1, vocab, size=(length,))
  query[-1] = 0
  return u, words, query


def _tables(u, vocab):
  """The per-role `[V, E]` tables: blocks of U, transposed."""
  return (u[:, :vocab].T, u[:, vocab:2 * vocab].T, u[:, 2 * vocab:3 * vocab].T,
          u[:, 3 * vocab:].T)


# The ops jitted, for the tests on values: one program per op and shape
# instead of one per primitive run eagerly (compilation is most of the time).
jitted = types.SimpleNamespace(
    bag_of_words=jax.jit(memnn.bag_of_words),
    ngram_ids=jax.jit(memnn.ngram_ids, static_argnums=(1, 2)),
    match_scores=jax.jit(memnn.match_scores),
    time_features=jax.jit(memnn.time_features),
    pairwise_scores=jax.jit(memnn.pairwise_scores),
    ordered_comparisons=jax.jit(memnn.ordered_comparisons),
    tournament_scores=jax.jit(memnn.tournament_scores),
    select=jax.jit(memnn.select),
    sample_negatives=jax.jit(memnn.sample_negatives, static_argnames='num'),
    margin_ranking_loss=jax.jit(memnn.margin_ranking_loss,
                                static_argnames='margin'),
    pairwise_margin_loss=jax.jit(memnn.pairwise_margin_loss,
                                 static_argnames='margin'),
)




@jax.jit
def _embed(query, support, words, t_query, t_support, t_memory):
  """`U Phi_x` of a query and one support sentence, and `U Phi_y(words)`."""
  x = (memnn.bag_of_words(query, t_query)
       + memnn.bag_of_words(support, t_support))
  ys = jax.vmap(memnn.bag_of_words, in_axes=(0, None))(words, t_memory)
  return x, ys


class ScoreTest(parameterized.TestCase):
  """The embedding-table form equals Phi_x^T U^T U Phi_y (eq. 4)."""

  @parameterized.parameters(0, 1, 2)
  def test_match_scores_equal_the_feature_map_form(self, seed):
    vocab = 7
    u, words, query = _random_case(seed, vocab=vocab)
    t_query, t_support, t_memory, _ = _tables(u, vocab)
    support = words[2]
    x, ys = _embed(*map(jnp.asarray, (query, support, words, t_query,
                                      t_support, t_memory)))
    out = jitted.match_scores(x, ys)
    phi_x = np_phi([(0, query), (1, support)], vocab, extra=3)
    expected = [np_score(u, phi_x, np_phi([(2, w)], vocab, extra=3))
                for w in words]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)

  def test_padding_adds_nothing_whatever_row_zero_holds(self):
    table = np.arange(12.0, dtype=np.float32).reshape(4, 3) + 100.0
    out = jitted.bag_of_words(jnp.array([2, 0, 3, 0, 0]), table)
    np.testing.assert_allclose(out, table[2] + table[3])
    np.testing.assert_allclose(
        jitted.bag_of_words(np.zeros((5,), np.int32), table), np.zeros(3))

  def test_repeated_words_count(self):
    table = np.eye(4, dtype=np.float32)
    out = jitted.bag_of_words(jnp.array([1, 1, 3]), table)
    np.testing.assert_allclose(out, [0.0, 2.0, 0.0, 1.0])

  def test_wrong_rank_raises(self):
    with self.assertRaises(AssertionError):
      memnn.bag_of_words(jnp.zeros((2, 3), jnp.int32), jnp.ones((4, 3)))
    with self.assertRaises(AssertionError):
      memnn.match_scores(jnp.ones((3,)), jnp.ones((4, 2)))


def np_ngram_ids(words, n, buckets):
  """The hash of `ngram_ids` in Python integers; 0 for windows with padding."""
  out = []
  for i in range(len(words) - n + 1):
    gram = [int(w) for w in words[i:i + n]]
    out.append(0 if 0 in gram else qa_testing.np_ngram_id(gram, buckets))
  return out


class NgramTest(parameterized.TestCase):

  @parameterized.parameters((1, 10), (2, 97), (3, 8192), (3, 1))
  def test_matches_reference(self, n, buckets):
    rng = np.random.default_rng(n)
    words = rng.integers(1, 400, size=9)
    words[6:] = 0
    out = jitted.ngram_ids(jnp.asarray(words, jnp.int32), n, buckets)
    expected = np_ngram_ids(words, n, buckets)
    np.testing.assert_array_equal(out, expected)
    self.assertTrue(np.all((np.asarray(out) >= 0) & (out <= buckets)))
    self.assertEqual(int(np.sum(np.asarray(out) > 0)), max(6 - n + 1, 0))

  def test_order_counts_and_padding_adds_nothing(self):
    a = jitted.ngram_ids(jnp.array([5, 6, 7]), 2, 1 << 20)
    b = jitted.ngram_ids(jnp.array([6, 5, 7]), 2, 1 << 20)
    self.assertNotEqual(set(np.asarray(a).tolist()),
                        set(np.asarray(b).tolist()))
    table = jnp.asarray(np.random.default_rng(0).normal(size=(98, 4)))
    words = np.array([3, 9, 4, 8], np.int32)
    bag = jitted.bag_of_words(jitted.ngram_ids(words, 3, 97), table)
    padded = np.pad(words, (0, 5))
    np.testing.assert_allclose(
        jitted.bag_of_words(jitted.ngram_ids(padded, 3, 97), table), bag)

  def test_short_sentences_and_bad_arguments(self):
    self.assertEqual(jitted.ngram_ids(jnp.array([1, 2]), 3, 5).shape, (0,))
    with self.assertRaisesRegex(ValueError, 'n >= 1'):
      memnn.ngram_ids(jnp.array([1, 2]), 0, 5)
    with self.assertRaisesRegex(ValueError, 'buckets'):
      memnn.ngram_ids(jnp.array([1, 2]), 2, 0)

  def test_vmaps_over_sentences(self):
    words = np.random.default_rng(1).integers(0, 50, size=(_B, 6))
    # Jitted: one program instead of one per op.
    out = jax.jit(jax.vmap(lambda w: memnn.ngram_ids(w, 2, 31)))(
        jnp.asarray(words))
    for i in range(_B):
      np.testing.assert_array_equal(out[i], np_ngram_ids(words[i], 2, 31))


class TimeFeaturesTest(parameterized.TestCase):

  def test_hand_computed(self):
    # x written at time 1; candidates at times 0, 2, 3 (3 is untimed).
    f = np.asarray(jitted.time_features(jnp.array(1), jnp.array([0, 2, 3]),
                                        jnp.array([True, True, False])))
    # [x older than y_i, x older than y_j, y_i older than y_j]
    np.testing.assert_array_equal(f[0, 1], [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(f[1, 0], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(f[1, 1], [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(f[0, 2], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(f[2, 1], [0.0, 1.0, 0.0])

  @parameterized.parameters(0, 1, 2)
  def test_pairwise_scores_equal_the_feature_map_form(self, seed):
    vocab, n = 7, 5
    u, words, query = _random_case(seed, n=n, vocab=vocab)
    t_query, t_support, t_memory, t_time = _tables(u, vocab)
    support = words[3]
    times = np.array([0, 1, 2, 3, 4])
    query_time = 2  # after a chosen memory at slot 2 (hop 2)
    x, ys = _embed(*map(jnp.asarray, (query, support, words, t_query,
                                      t_support, t_memory)))
    out = jitted.pairwise_scores(x, ys, jnp.asarray(t_time),
                                 jnp.asarray(times), jnp.array(query_time))
    expected = np.zeros((n, n))
    for i in range(n):
      for j in range(n):
        expected[i, j] = np_s_ot(u, vocab, query, [support], words[i],
                                 words[j], query_time, times[i], times[j])
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)

  def test_zero_time_embeddings_give_score_differences(self):
    rng = np.random.default_rng(3)
    x, ys = rng.normal(size=3), rng.normal(size=(4, 3))
    out = jitted.pairwise_scores(jnp.asarray(x), jnp.asarray(ys),
                                 jnp.zeros((3, 3)), jnp.arange(4),
                                 jnp.array(4))
    s = ys @ x
    np.testing.assert_allclose(out, s[:, None] - s[None, :], atol=1e-5)

  def test_wrong_shape_raises(self):
    with self.assertRaises(AssertionError):
      memnn.pairwise_scores(jnp.ones((3,)), jnp.ones((4, 3)),
                            jnp.ones((2, 3)), jnp.arange(4), jnp.array(4))


class SelectionTest(parameterized.TestCase):
  """Vectorised selection vs the paper's loop and explicit min/max loops."""

  def test_ordered_comparisons_match_reference_and_are_antisymmetric(self):
    rng = np.random.default_rng(4)
    pairwise = rng.normal(size=(6, 6))
    times = rng.permutation(6)
    out = np.asarray(jitted.ordered_comparisons(
        jnp.asarray(pairwise), jnp.asarray(times)))
    np.testing.assert_allclose(out, np_ordered(pairwise, times), atol=1e-6)
    np.testing.assert_allclose(out, -out.T, atol=1e-6)

  def test_untimed_pairs_use_the_mean_of_both_orders(self):
    pairwise = jnp.array([[0.0, 1.0], [3.0, 0.0]])
    out = jitted.ordered_comparisons(pairwise, jnp.array([0, 1]),
                                     jnp.array([True, False]))
    np.testing.assert_allclose(out, [[0.0, -1.0], [1.0, 0.0]])

  def test_tournament_scores_match_reference(self):
    rng = np.random.default_rng(5)
    a = rng.normal(size=(5, 5))
    valid = np.array([True, False, True, True, False])
    out = np.asarray(jitted.tournament_scores(jnp.asarray(a),
                                              jnp.asarray(valid)))
    for i in range(5):
      if not valid[i]:
        self.assertEqual(float(out[i]), -np.inf)
        continue
      worst = min(a[i, j] for j in range(5) if valid[j] and j != i)
      np.testing.assert_allclose(out[i], worst, rtol=1e-6)

  def test_single_valid_candidate_wins(self):
    out = jitted.tournament_scores(jnp.ones((3, 3)),
                                   jnp.array([False, True, False]))
    self.assertEqual(float(out[1]), np.inf)
    index, weights = jitted.select(out, jnp.array([False, True, False]))
    self.assertEqual(int(index), 1)
    np.testing.assert_array_equal(weights, [0.0, 1.0, 0.0])

  def test_without_time_features_is_the_plain_argmax(self):
    rng = np.random.default_rng(6)
    s = rng.normal(size=7)
    valid = np.array([True, True, False, True, True, True, False])
    pairwise = jitted.pairwise_scores(
        jnp.asarray(s), jnp.eye(7), jnp.zeros((3, 7)), jnp.arange(7),
        jnp.array(7))
    comparisons = jitted.ordered_comparisons(pairwise, jnp.arange(7))
    scores = jitted.tournament_scores(comparisons, jnp.asarray(valid))
    index, _ = jitted.select(scores, jnp.asarray(valid))
    self.assertEqual(int(index), int(np.argmax(np.where(valid, s, -np.inf))))

  def test_agrees_with_the_papers_loop_when_a_winner_exists(self):
    agreed = 0
    for seed in range(40):
      rng = np.random.default_rng(100 + seed)
      n = 6
      x = rng.normal(size=4)
      ys = rng.normal(size=(n, 4))
      time_emb = 2.0 * rng.normal(size=(3, 4))
      valid = rng.uniform(size=n) < 0.8
      valid[0] = True
      pairwise = np.asarray(jitted.pairwise_scores(
          jnp.asarray(x), jnp.asarray(ys), jnp.asarray(time_emb),
          jnp.arange(n), jnp.array(n)), np.float64)
      ordered = np_ordered(pairwise, np.arange(n))
      idx = [i for i in range(n) if valid[i]]
      winners = [i for i in idx
                 if all(ordered[i, j] > 0 for j in idx if j != i)]
      if not winners:
        continue
      scores = jitted.tournament_scores(
          jnp.asarray(ordered, jnp.float32), jnp.asarray(valid))
      index, _ = jitted.select(scores, jnp.asarray(valid))
      self.assertEqual(int(index), winners[0])
      self.assertEqual(np_paper_loop(pairwise, valid), winners[0])
      agreed += 1
    self.assertGreater(agreed, 20)

  def test_recency_time_feature_picks_the_latest_equal_fact(self):
    # Identical content; "y older than y'" pushes down older winners.
    ys = jnp.ones((4, 2))
    x = jnp.array([1.0, 0.0])
    time_emb = jnp.array([[0.0, 0.0], [0.0, 0.0], [-1.0, 0.0]])
    pairwise = jitted.pairwise_scores(x, ys, time_emb, jnp.arange(4),
                                      jnp.array(4))
    valid = jnp.array([True, True, True, False])
    scores = jitted.tournament_scores(
        jitted.ordered_comparisons(pairwise, jnp.arange(4)), valid)
    index, weights = jitted.select(scores, valid)
    self.assertEqual(int(index), 2)
    np.testing.assert_array_equal(weights, [0.0, 0.0, 1.0, 0.0])
    self.assertEqual(np_paper_loop(np.asarray(pairwise), np.asarray(valid)),
                     2)

  def test_all_invalid_selects_nothing(self):
    index, weights = jitted.select(jnp.full((4,), -jnp.inf),
                                   jnp.zeros((4,), bool))
    self.assertEqual(int(index), 0)
    np.testing.assert_array_equal(weights, np.zeros(4))


class LossTest(parameterized.TestCase):

  def test_margin_loss_hand_computed(self):
    scores = jnp.array([1.0, 0.95, 0.5, 2.0])
    negatives = jnp.array([1, 2, 3])
    mask = jnp.array([1.0, 1.0, 1.0])
    # gamma=0.1: max(0, .1-1+.95)=.05, max(0, .1-1+.5)=0, max(0, .1-1+2)=1.1
    out = jitted.margin_ranking_loss(scores, jnp.array(0), negatives, mask,
                                     margin=0.1)
    np.testing.assert_allclose(out, 1.15, rtol=1e-6)
    masked = jitted.margin_ranking_loss(
        scores, jnp.array(0), negatives, jnp.array([1.0, 1.0, 0.0]),
        margin=0.1)
    np.testing.assert_allclose(masked, 0.05, rtol=1e-5)

  def test_zero_loss_when_margins_are_satisfied(self):
    scores = jnp.array([3.0, 1.0, 2.0, 0.0])
    out = jitted.margin_ranking_loss(scores, jnp.array(0), jnp.arange(4),
                                     jnp.array([0.0, 1.0, 1.0, 1.0]),
                                     margin=0.5)
    self.assertEqual(float(out), 0.0)
    pairwise = jnp.array([[0.0, 1.0, 2.0], [-1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    out = jitted.pairwise_margin_loss(
        pairwise, jnp.array(0), jnp.array([1, 2]), jnp.ones((2,)),
        margin=0.5)
    self.assertEqual(float(out), 0.0)

  def test_pairwise_loss_needs_both_orders(self):
    # f=0 wins as the first argument but not as the second.
    pairwise = jnp.array([[0.0, 1.0], [0.3, 0.0]])
    out = jitted.pairwise_margin_loss(pairwise, jnp.array(0), jnp.array([1]),
                                      jnp.ones((1,)), margin=0.1)
    np.testing.assert_allclose(out, 0.4, rtol=1e-6)

  @parameterized.parameters(0, 1, 2)
  def test_losses_match_reference(self, seed):
    rng = np.random.default_rng(seed)
    n = 6
    scores = rng.normal(size=n)
    pairwise = rng.normal(size=(n, n))
    target = int(rng.integers(n))
    negatives = rng.integers(0, n, size=8)
    mask = (rng.uniform(size=8) < 0.7).astype(np.float64)
    out = jitted.margin_ranking_loss(
        jnp.asarray(scores), jnp.array(target), jnp.asarray(negatives),
        jnp.asarray(mask), margin=0.3)
    np.testing.assert_allclose(
        out, np_margin_loss(scores, target, negatives, mask, 0.3), rtol=1e-5)
    out = jitted.pairwise_margin_loss(
        jnp.asarray(pairwise), jnp.array(target), jnp.asarray(negatives),
        jnp.asarray(mask), margin=0.3)
    np.testing.assert_allclose(
        out, np_pairwise_loss(pairwise, target, negatives, mask, 0.3),
        rtol=1e-5)


class SampleNegativesTest(parameterized.TestCase):

  def test_all_negatives(self):
    valid = jnp.array([True, True, False, True])
    idx, mask = jitted.sample_negatives(None, valid, jnp.array(1), num=0)
    np.testing.assert_array_equal(idx, [0, 1, 2, 3])
    np.testing.assert_array_equal(mask, [1.0, 0.0, 0.0, 1.0])

  def test_sampled_negatives_are_valid_and_not_the_target(self):
    valid = jnp.array([True, True, False, True, False, True])
    idx, mask = jitted.sample_negatives(jax.random.key(0), valid,
                                        jnp.array(3), num=200)
    idx = np.asarray(idx)
    self.assertTrue(np.all(np.isin(idx, [0, 1, 5])))
    self.assertEqual(set(idx.tolist()), {0, 1, 5})
    np.testing.assert_array_equal(mask, np.ones(200))

  def test_no_valid_negative_masks_everything(self):
    valid = jnp.array([False, True, False])
    _, mask = jitted.sample_negatives(jax.random.key(0), valid, jnp.array(1),
                                      num=4)
    np.testing.assert_array_equal(mask, np.zeros(4))

  def test_negative_num_raises(self):
    with self.assertRaises(ValueError):
      memnn.sample_negatives(jax.random.key(0), jnp.ones((3,), bool),
                             jnp.array(0), num=-1)


def _lookup(x, ys, time_emb, times, query_time, valid):
  """One whole write-time lookup: pairwise -> ordered -> tournament."""
  pairwise = memnn.pairwise_scores(x, ys, time_emb, times, query_time)
  scores = memnn.tournament_scores(
      memnn.ordered_comparisons(pairwise, times), valid)
  return memnn.select(scores, valid)[1]


jitted_lookup = jax.jit(_lookup)


class BatchTest(parameterized.TestCase):
  """`jax.vmap` over a batch equals example-by-example calls."""

  @chex.all_variants(with_pmap=False)
  def test_pairwise_scores_and_lookup(self):
    rng = np.random.default_rng(7)
    n, e = 5, 3
    x = jnp.asarray(rng.normal(size=(_B, e)), jnp.float32)
    ys = jnp.asarray(rng.normal(size=(_B, n, e)), jnp.float32)
    time_emb = jnp.asarray(rng.normal(size=(_B, 3, e)), jnp.float32)
    times = jnp.tile(jnp.arange(n), (_B, 1))
    query_time = jnp.array([n, 2, 0])
    valid = jnp.asarray(rng.uniform(size=(_B, n)) < 0.7)
    out = self.variant(jax.vmap(memnn.pairwise_scores))(
        x, ys, time_emb, times, query_time)
    weights = self.variant(jax.vmap(_lookup))(
        x, ys, time_emb, times, query_time, valid)
    # The examples as NumPy arrays: indexing a `jax.Array` runs (and
    # compiles) a program per index shape.
    x, ys, time_emb, times, query_time, valid, out, weights = map(
        np.asarray, (x, ys, time_emb, times, query_time, valid, out, weights))
    for b in range(_B):
      np.testing.assert_allclose(
          out[b], jitted.pairwise_scores(x[b], ys[b], time_emb[b], times[b],
                                         query_time[b]), rtol=1e-6)
      np.testing.assert_array_equal(
          weights[b], jitted_lookup(x[b], ys[b], time_emb[b], times[b],
                                    query_time[b], valid[b]))

  @chex.all_variants(with_pmap=False)
  def test_losses(self):
    rng = np.random.default_rng(8)
    n = 6
    scores = jnp.asarray(rng.normal(size=(_B, n)), jnp.float32)
    pairwise = jnp.asarray(rng.normal(size=(_B, n, n)), jnp.float32)
    target = jnp.array([0, 3, 5])
    negatives = jnp.asarray(rng.integers(0, n, size=(_B, 4)))
    mask = jnp.ones((_B, 4))
    fn = lambda *a: memnn.margin_ranking_loss(*a, margin=0.2)
    pfn = lambda *a: memnn.pairwise_margin_loss(*a, margin=0.2)
    out = self.variant(jax.vmap(fn))(scores, target, negatives, mask)
    pout = self.variant(jax.vmap(pfn))(pairwise, target, negatives, mask)
    # The examples as NumPy arrays (see test_pairwise_scores_and_lookup).
    scores, pairwise, target, negatives, mask, out, pout = map(
        np.asarray, (scores, pairwise, target, negatives, mask, out, pout))
    for b in range(_B):
      np.testing.assert_allclose(out[b], np_margin_loss(
          np.asarray(scores[b]), int(target[b]), negatives[b], mask[b], 0.2),
                                 rtol=1e-5)
      np.testing.assert_allclose(pout[b], np_pairwise_loss(
          np.asarray(pairwise[b]), int(target[b]), negatives[b], mask[b],
          0.2), rtol=1e-5)


class GradientTest(parameterized.TestCase):
  """Reverse-mode gradients of the smooth parts vs finite differences (x64)."""

  def test_scores(self):
    with jax.enable_x64(True):
      rng = np.random.default_rng(9)
      x = jnp.asarray(rng.normal(size=4))
      ys = jnp.asarray(rng.normal(size=(5, 4)))
      time_emb = jnp.asarray(rng.normal(size=(3, 4)))
      times, query_time = jnp.arange(5), jnp.array(2)
      grad_testing.check_grads_rev2(memnn.match_scores, (x, ys), atol=1e-5,
                                    rtol=1e-5)
      grad_testing.check_grads_rev2(
          lambda a, b, c: memnn.pairwise_scores(a, b, c, times, query_time),
          (x, ys, time_emb), atol=1e-5, rtol=1e-5)
      words = jnp.array([3, 1, 0, 3])
      grad_testing.check_grads_rev2(
          lambda t: memnn.bag_of_words(words, t),
          (jnp.asarray(rng.normal(size=(6, 4))),), atol=1e-5, rtol=1e-5)

  def test_losses_away_from_the_hinge(self):
    with jax.enable_x64(True):
      # Margins chosen so that no hinge sits within the finite-difference
      # step of its kink.
      scores = jnp.array([1.0, 0.5, 2.0, -1.0])
      pairwise = jnp.array([[0.0, 0.5, -0.3, 2.0], [0.4, 0.0, 0.0, 0.0],
                            [0.7, 0.0, 0.0, 0.0], [-3.0, 0.0, 0.0, 0.0]])
      negatives, mask = jnp.array([1, 2, 3]), jnp.ones((3,))
      grad_testing.check_grads_rev2(
          lambda s: memnn.margin_ranking_loss(
              s, jnp.array(0), negatives, mask, margin=0.1),
          (scores,), atol=1e-5, rtol=1e-5)
      grad_testing.check_grads_rev2(
          lambda p: memnn.pairwise_margin_loss(
              p, jnp.array(0), negatives, mask, margin=0.1),
          (pairwise,), atol=1e-5, rtol=1e-5)


def _degenerate_objective(tables, story, query):
  """A lookup and both losses, from the tables `[4, V, E]`: `(loss, w)`."""
  n = story.shape[0]
  x = memnn.bag_of_words(query, tables[0])
  ys = jax.vmap(memnn.bag_of_words, in_axes=(0, None))(story, tables[1])
  valid = jnp.any(story != 0, axis=-1)
  pairwise = memnn.pairwise_scores(x, ys, tables[2, :3], jnp.arange(n),
                                   jnp.array(n))
  weights = _lookup(x, ys, tables[2, :3], jnp.arange(n), jnp.array(n), valid)
  negatives, mask = memnn.sample_negatives(
      jax.random.key(0), valid, jnp.array(0), num=3)
  loss = memnn.pairwise_margin_loss(pairwise, jnp.array(0), negatives, mask,
                                    margin=0.1)
  loss += memnn.margin_ranking_loss(
      memnn.match_scores(x, ys), jnp.array(0), jnp.arange(n),
      valid.astype(jnp.float32), margin=0.1)
  return loss + jnp.sum(weights), weights


# One program for both cases of DegenerateTest: the story is an argument.
_degenerate_value_and_grad = jax.jit(
    jax.value_and_grad(_degenerate_objective, has_aux=True))


class DegenerateTest(parameterized.TestCase):
  """All-empty memory and zero embeddings stay finite (values, gradients)."""

  @parameterized.named_parameters(
      dict(testcase_name='empty_memory', zero_tables=False),
      dict(testcase_name='zero_embeddings', zero_tables=True))
  def test_finite_under_debug_nans(self, zero_tables):
    n, length, vocab, e = 4, 3, 5, 2
    rng = np.random.default_rng(10)
    tables = jnp.asarray(rng.normal(size=(4, vocab, e)), jnp.float32)
    if zero_tables:
      tables = jnp.zeros_like(tables)
      story = jnp.asarray(rng.integers(1, vocab, size=(n, length)))
    else:
      story = jnp.zeros((n, length), jnp.int32)
    query = jnp.array([1, 2, 0])
    with jax.debug_nans(True):
      (loss, weights), grads = _degenerate_value_and_grad(tables, story,
                                                          query)
      jax.block_until_ready(grads)
    self.assertTrue(np.isfinite(float(loss)))
    self.assertTrue(np.all(np.isfinite(np.asarray(grads))))
    if not zero_tables:
      np.testing.assert_array_equal(weights, np.zeros(n))
      self.assertEqual(float(loss), 0.0)


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
