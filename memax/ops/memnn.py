"""Scoring and loss ops of the strongly supervised Memory Network.

Weston, Chopra & Bordes, "Memory Networks" (ICLR 2015), secs. 3.1 and 3.4, in
the bAbI setting of Weston et al. 2015, "Towards AI-Complete Question
Answering". Every op works on one example: no batch axis. Batch with
`jax.vmap`. Shapes use the legend of `memax.types` (`N` candidates: memory
slots, possibly plus a "no fact" candidate; `E` embedding size; `L` words per
sentence; `V` vocabulary).

The scoring function (sec. 3.1, eq. 4) is

    s(x, y) = Phi_x(x)^T U^T U Phi_y(y),

with `U` an `[E, D]` matrix and `Phi` a bag-of-words indicator vector in
`D = 3|W|` dimensions: one block of `|W|` for the words of the input `x`, one
for the words of the supporting memories that are part of the input, one for
the words of the candidate `y`. Because the blocks are disjoint, `U Phi(.)` is
a sum of columns of `U` taken from one `[E, |W|]` block per role; writing each
block as an embedding table `table_role = U[:, block_role]^T` (`[V, E]`) gives

    U Phi_x([x, m_1, ...]) = sum_{w in x} table_x[w]
                             + sum_{w in m_1, ...} table_m[w],
    U Phi_y(y)             = sum_{w in y} table_y[w],

so `s(x, y)` is the dot product of two summed embeddings (`bag_of_words`,
`match_scores`). The write-time extension of sec. 3.4 adds three binary
dimensions to every `Phi` (`time_features`, `pairwise_scores`).
"""

import chex
import jax
import jax.numpy as jnp

from memax.types import Array, PRNGKey


def bag_of_words(words: Array, table: Array) -> Array:
  """`U Phi(x)` for one sentence: the sum of its words' embeddings.

  This is the product of one `[E, |W|]` block of `U` with the bag-of-words
  count vector of the sentence (sec. 3.1). Word id 0 is padding and adds
  nothing, whatever the table's row 0 holds.

  Args:
    words: `[L]` int word ids, 0 = padding.
    table: `[V, E]` embedding table of one role (one block of `U`, transposed).

  Returns:
    `[E]` embedding of the sentence.
  """
  chex.assert_rank([words, table], [1, 2])
  present = (words != 0).astype(table.dtype)
  return present @ table[words]


NGRAM_MULTIPLIER = 0x01000193  # the 32-bit FNV prime.
NGRAM_MIXER = 0x9E3779B1       # Knuth's multiplicative-hash constant.


def ngram_ids(words: Array, n: int, buckets: int) -> Array:
  """Hashed ids of the `n`-grams of one sentence, for a bag of n-grams.

  The n-gram extension (NG) of Weston et al. 2015 ("Towards AI-Complete
  Question Answering") adds a bag of n-grams to the bag of words, so
  that word order can count. Instead of a dictionary of n-grams, each
  n-gram `(w_1, ..., w_n)` is hashed into `buckets` rows (so the table size
  does not depend on the data):

      h_0 = n,  h_i = (h_{i-1} * 16777619) xor w_i   (mod 2^32),
      id  = ((h_n * 2654435761) mod 2^32) mod buckets + 1.

  Windows that contain padding (word id 0) get id 0, so `bag_of_words` over
  the ids skips them and trailing padding changes nothing.

  Args:
    words: `[L]` int word ids, 0 = padding.
    n: n-gram length, >= 1.
    buckets: number of hash buckets, >= 1 (ids run from 1 to `buckets`).

  Returns:
    `[max(L - n + 1, 0)]` int32 ids in `[0, buckets]`, 0 = no n-gram.
  """
  chex.assert_rank(words, 1)
  if n < 1 or buckets < 1:
    raise ValueError(f'ngram_ids needs n >= 1 and buckets >= 1, got n={n}, '
                     f'buckets={buckets}.')
  count = max(words.shape[0] - n + 1, 0)
  windows = jnp.stack([words[i:i + count] for i in range(n)], axis=-1)
  h = jnp.full((count,), n, jnp.uint32)
  for i in range(n):
    h = (h * jnp.uint32(NGRAM_MULTIPLIER)) ^ windows[:, i].astype(jnp.uint32)
  h = h * jnp.uint32(NGRAM_MIXER)
  ids = (h % jnp.uint32(buckets)).astype(jnp.int32) + 1
  return jnp.where(jnp.all(windows != 0, axis=-1), ids, 0)


def match_scores(query: Array, candidates: Array) -> Array:
  """`s(x, y_i) = (U Phi_x(x)) . (U Phi_y(y_i))` for every candidate (eq. 4).

  Args:
    query: `[E]` embedded input side `U Phi_x(x)`.
    candidates: `[N, E]` embedded candidates `U Phi_y(y_i)`.

  Returns:
    `[N]` scores.
  """
  chex.assert_rank([query, candidates], [1, 2])
  chex.assert_equal_shape_suffix([query, candidates], 1)
  return candidates @ query


def time_features(query_time: Array, times: Array,
                  timed: Array | None = None) -> Array:
  """The three binary write-time features of sec. 3.4, for all pairs.

  `features[i, j] = [x older than y_i, x older than y_j, y_i older than y_j]`
  for `y = y_i`, `y' = y_j`, where "older" means written earlier (a smaller
  write time). A feature that involves an untimed candidate (the "no fact"
  candidate of `memax.models.memnn`) is 0: the paper sets the extra
  dimensions to zero when they are not used.

  Args:
    query_time: `[]` write time of the input side `x`.
    times: `[N]` write times of the candidates (slot index = time order).
    timed: `[N]` bool, whether a candidate has a write time (default all).

  Returns:
    `[N, N, 3]` float features in `{0, 1}`.
  """
  chex.assert_rank([query_time, times], [0, 1])
  if timed is None:
    timed = jnp.ones(times.shape, bool)
  chex.assert_equal_shape([times, timed])
  n = times.shape[0]
  x_older = (query_time < times) & timed                       # [N]
  f1 = jnp.broadcast_to(x_older[:, None], (n, n))
  f2 = jnp.broadcast_to(x_older[None, :], (n, n))
  f3 = ((times[:, None] < times[None, :])
        & timed[:, None] & timed[None, :])
  return jnp.stack([f1, f2, f3], axis=-1).astype(jnp.float32)


def pairwise_scores(query: Array, candidates: Array, time_embeddings: Array,
                    times: Array, query_time: Array,
                    timed: Array | None = None) -> Array:
  """`s_Ot(x, y_i, y_j)` of sec. 3.4 for every ordered pair of candidates.

      s_Ot(x, y, y') = Phi_x(x)^T U^T U (Phi_y(y) - Phi_y(y')
                                         + Phi_t(x, y, y')),

  where `U Phi_t = sum_k f_k u_k` adds the three time columns of `U`
  (`time_embeddings`) weighted by the binary features of `time_features`.
  `y_i` is preferred to `y_j` when the score is positive. Without time
  features (zero `time_embeddings`) `P[i, j] = s(x, y_i) - s(x, y_j)`.

  Args:
    query: `[E]` embedded input side `U Phi_x(x)`.
    candidates: `[N, E]` embedded candidates `U Phi_y(y_i)`.
    time_embeddings: `[3, E]` the three time columns of `U`.
    times: `[N]` write times of the candidates.
    query_time: `[]` write time of the input side.
    timed: `[N]` bool, candidates that have a write time (default all).

  Returns:
    `[N, N]` matrix `P[i, j] = s_Ot(x, y_i, y_j)`.
  """
  chex.assert_rank([query, candidates, time_embeddings, times, query_time],
                   [1, 2, 2, 1, 0])
  chex.assert_equal_shape_suffix([query, candidates, time_embeddings], 1)
  chex.assert_shape(time_embeddings, (3, query.shape[0]))
  content = match_scores(query, candidates)                   # [N]
  features = time_features(query_time, times, timed).astype(query.dtype)
  time_weights = time_embeddings @ query                      # [3]
  return content[:, None] - content[None, :] + features @ time_weights


def ordered_comparisons(pairwise: Array, times: Array,
                        timed: Array | None = None) -> Array:
  """How much `y_i` beats `y_j`, each pair scored older-first (sec. 3.4).

  The paper replaces the argmax by a loop over the memories in write order
  that keeps the current winner and compares it with the next memory `m_i`.
  The winner was written before `m_i`, so every comparison the loop makes is
  `s_Ot(x, older, newer)`, and the older memory stays the winner iff that
  score is positive (with the other order, "y older than y'" would be 0 in
  every comparison and could not express recency). This op scores every
  pair that way:

      A[i, j] =  P[i, j]   if y_i is older than y_j,
      A[i, j] = -P[j, i]   if y_j is older than y_i,
      A[i, j] = (P[i, j] - P[j, i]) / 2   if neither has an earlier time
                                          (untimed candidates, i == j),

  so `A` is antisymmetric and `A[i, j] > 0` iff the loop would prefer `y_i`
  to `y_j`.

  Args:
    pairwise: `[N, N]` `P[i, j] = s_Ot(x, y_i, y_j)` from `pairwise_scores`.
    times: `[N]` write times of the candidates.
    timed: `[N]` bool, candidates that have a write time (default all).

  Returns:
    `[N, N]` antisymmetric margins `A`.
  """
  chex.assert_rank([pairwise, times], [2, 1])
  n = times.shape[0]
  chex.assert_shape(pairwise, (n, n))
  if timed is None:
    timed = jnp.ones(times.shape, bool)
  both = timed[:, None] & timed[None, :]
  older = both & (times[:, None] < times[None, :])
  newer = both & (times[:, None] > times[None, :])
  return jnp.where(older, pairwise,
                   jnp.where(newer, -pairwise.T,
                             0.5 * (pairwise - pairwise.T)))


def tournament_scores(pairwise: Array, valid: Array) -> Array:
  """Each candidate's worst comparison against the other valid ones.

  `score[i] = min_{j valid, j != i} A[i, j]`, the vectorised form of the
  paper's loop (sec. 3.4). With antisymmetric `A` (`ordered_comparisons`)
  a candidate that beats every other one has the only positive score, so
  the argmax of these scores is the memory that the loop ends with whenever
  the preferences are transitive, without the loop's dependence on the
  visiting order otherwise (then it is the candidate whose worst defeat is
  mildest). Without time features `A[i, j] = s_i - s_j`,
  `score[i] = s_i - max_{j != i} s_j`, and the argmax is the plain
  `argmax_i s_i` of eqs. 2-3.

  Args:
    pairwise: `[N, N]` comparisons `A`, from `ordered_comparisons`.
    valid: `[N]` bool, candidates that exist (non-empty slots).

  Returns:
    `[N]` scores: `-inf` for invalid candidates, `+inf` for a valid one
    without competitors.
  """
  chex.assert_rank([pairwise, valid], [2, 1])
  n = valid.shape[0]
  chex.assert_shape(pairwise, (n, n))
  rivals = valid[None, :] & ~jnp.eye(n, dtype=bool)
  worst = jnp.min(jnp.where(rivals, pairwise, jnp.inf), axis=-1)
  return jnp.where(valid, worst, -jnp.inf)


def select(scores: Array, valid: Array) -> tuple[Array, Array]:
  """Hard lookup (eqs. 2-3): the argmax over valid candidates.

  Args:
    scores: `[N]` candidate scores.
    valid: `[N]` bool, candidates that exist.

  Returns:
    `([] int32 index, [N] one-hot weights)`; when no candidate is valid the
    index is 0 and the weights are all zero.
  """
  chex.assert_rank([scores, valid], [1, 1])
  chex.assert_equal_shape([scores, valid])
  index = jnp.argmax(jnp.where(valid, scores, -jnp.inf)).astype(jnp.int32)
  weights = jax.nn.one_hot(index, scores.shape[0], dtype=jnp.float32)
  return index, weights * jnp.any(valid).astype(jnp.float32)


def sample_negatives(key: PRNGKey | None, valid: Array, target: Array, *,
                     num: int) -> tuple[Array, Array]:
  """Negatives `f_bar != f` for the margin ranking loss (sec. 3.1).

  Args:
    key: consumed; uniform sampling with replacement (unused when
      `num == 0`, may then be None).
    valid: `[N]` bool, candidates that exist.
    target: `[]` int index of the correct candidate.
    num: negatives to draw; 0 = every valid candidate other than the target
      (the paper's full sum).

  Returns:
    `([n] int32 indices, [n] float mask)`, `n = num` or `N`; the mask is 0
    for padding entries and when there is no valid negative at all.
  """
  chex.assert_rank([valid, target], [1, 0])
  n = valid.shape[0]
  allowed = valid & (jnp.arange(n) != target)
  if num == 0:
    return jnp.arange(n, dtype=jnp.int32), allowed.astype(jnp.float32)
  if num < 0:
    raise ValueError(f'num must be >= 0, got {num}.')
  logits = jnp.where(allowed, 0.0, -jnp.inf)
  indices = jax.random.categorical(key, logits, shape=(num,))
  mask = jnp.full((num,), jnp.any(allowed), jnp.float32)
  return indices.astype(jnp.int32), mask


def margin_ranking_loss(scores: Array, target: Array, negatives: Array,
                        mask: Array, *, margin: float) -> Array:
  """`sum_{f_bar} max(0, gamma - s(x, f) + s(x, f_bar))` (sec. 3.1, eqs. 6-8).

  Args:
    scores: `[N]` scores `s(x, y_i)` of all candidates.
    target: `[]` int index of the correct candidate `f`.
    negatives: `[n]` int indices of the negatives `f_bar`.
    mask: `[n]` float, which negatives count.
    margin: `gamma`.

  Returns:
    `[]` loss summed over the negatives.
  """
  chex.assert_rank([scores, target, negatives, mask], [1, 0, 1, 1])
  chex.assert_equal_shape([negatives, mask])
  hinge = jax.nn.relu(margin - scores[target] + scores[negatives])
  return jnp.sum(mask * hinge)


def pairwise_margin_loss(pairwise: Array, target: Array, negatives: Array,
                         mask: Array, *, margin: float) -> Array:
  """The write-time margin loss of sec. 3.4, both orders of every pair.

      sum_{f_bar} max(0, gamma - s_Ot(x, f, f_bar))
                + max(0, gamma + s_Ot(x, f_bar, f)):

  the correct fact must win against each negative whichever argument it is.

  Args:
    pairwise: `[N, N]` `P[i, j] = s_Ot(x, y_i, y_j)`.
    target: `[]` int index of the correct candidate `f`.
    negatives: `[n]` int indices of the negatives `f_bar`.
    mask: `[n]` float, which negatives count.
    margin: `gamma`.

  Returns:
    `[]` loss summed over the negatives.
  """
  chex.assert_rank([pairwise, target, negatives, mask], [2, 0, 1, 1])
  chex.assert_equal_shape([negatives, mask])
  wins = pairwise[target, negatives]     # s_Ot(x, f, f_bar)
  losses = pairwise[negatives, target]   # s_Ot(x, f_bar, f)
  hinge = jax.nn.relu(margin - wins) + jax.nn.relu(margin + losses)
  return jnp.sum(mask * hinge)
