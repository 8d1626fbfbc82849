"""Attention over sentence memories: End-to-End Memory Networks (Sukhbaatar
et al. 2015) and Key-Value Memory Networks (Miller et al. 2016).

Every op works on one example: no batch axis. Batch with `jax.vmap` (over
slots, then over the batch). Shapes use the legend of `memax.types`, plus
`L` words per sentence, `M` sentence slots (memories) and `d` the embedding
size. Word id 0 is padding; a slot is empty iff all its word ids are 0.
"""

import chex
import jax
import jax.numpy as jnp

from memax.types import Array


def position_encoding(sentence_size: int, embedding_size: int, *,
                      length: int | None = None,
                      centered: bool = False) -> Array:
  """Position-encoding table for a fixed sentence length (MemN2N sec. 4.1).

  `l[j, k] = (1 - j/J) - (k/d) (1 - 2j/J)`, with the word position
  `j = 1..J`, the embedding dimension `k = 1..d` (both 1-based) and
  `J = sentence_size`. A sentence is then encoded as `m = sum_j l_j * A x_j`
  (elementwise product). `centered=True` gives the formula of the authors'
  released code instead (`centered_position_encoding_weights`).

  This is the table that most implementations use with `J` the *padded*
  sentence length; then adding padding words changes the weights of the real
  words. `position_encoding_weights` uses the true sentence length instead.
  The authors' code takes `J` one longer than the padded sentence when
  temporal encoding is on, the last position weighting the time word:
  `position_encoding(L + 1, d)` (or rows `:L` of it with `length=L + 1`).

  Args:
    sentence_size: number of positions (rows) >= 1.
    embedding_size: `d` >= 1.
    length: `J` >= `sentence_size`; defaults to `sentence_size`.
    centered: use the code's formula, centred on 1.

  Returns:
    `[sentence_size, d]` float32 weights.
  """
  length = sentence_size if length is None else length
  if sentence_size < 1 or embedding_size < 1 or length < sentence_size:
    raise ValueError(
        f'need 1 <= sentence_size <= length and embedding_size >= 1, got '
        f'sentence_size={sentence_size}, length={length}, '
        f'embedding_size={embedding_size}.')
  j = jnp.arange(1, sentence_size + 1, dtype=jnp.float32)[:, None]
  k = jnp.arange(1, embedding_size + 1, dtype=jnp.float32)[None, :]
  formula = _centered_pe if centered else _pe
  return formula(j, k, jnp.float32(length), embedding_size)


def _pe(j, k, sentence_length, embedding_size):
  d = jnp.float32(embedding_size)
  return ((1.0 - j / sentence_length)
          - (k / d) * (1.0 - 2.0 * j / sentence_length))


def position_encoding_weights(words: Array, embedding_size: int) -> Array:
  """Position encoding with the sentence's true length (MemN2N sec. 4.1).

  The paper's `J` is "the number of words in the sentence". Here `J` is the
  number of non-padding ids in `words` and `j` the 1-based rank of a word
  among the non-padding words, so padding (anywhere) changes nothing; padding
  rows get weight 0, and an all-padding sentence gets all-zero weights. For a
  sentence without padding this equals `position_encoding(L, d)`.

  Args:
    words: `[L]` int word ids, 0 = padding.
    embedding_size: `d` >= 1.

  Returns:
    `[L, d]` float32 weights `l[j, k]`.
  """
  return _true_length_weights(words, embedding_size, _pe)


def _true_length_weights(words: Array, embedding_size: int, formula
                         ) -> Array:
  """`formula(j, k, J, d)` at each real word's rank `j`; 0 for padding."""
  chex.assert_rank(words, 1)
  real = (words != 0).astype(jnp.float32)
  j = jnp.cumsum(real)[:, None]  # rank among the real words
  length = jnp.maximum(jnp.sum(real), 1.0)  # J; 1 keeps an empty one finite
  k = jnp.arange(1, embedding_size + 1, dtype=jnp.float32)[None, :]
  return formula(j, k, length, embedding_size) * real[:, None]


def _centered_pe(j, k, sentence_length, embedding_size):
  d = jnp.float32(embedding_size)
  return 1.0 + 4.0 * (k - (d + 1) / 2) * (j - (sentence_length + 1) / 2) / (
      d * sentence_length)


def centered_position_encoding_weights(words: Array, embedding_size: int
                                       ) -> Array:
  """The position encoding of the MemN2N authors' released code.

  The Matlab and Lua code released with Sukhbaatar et al. 2015 (facebook/MemNN)
  weights word `j` of `J` in embedding dimension `k` of `d` (1-based) by

      l[j, k] = 1 + 4 (k - (d + 1)/2) (j - (J + 1)/2) / (d J),

  which is centred on 1 where the paper's formula (`position_encoding`) is
  centred on 1/2: to first order it is twice the paper's `l[j, k]`, so
  sentence embeddings start twice as large. That code takes `J` as the
  padded length; here, as in `position_encoding_weights`, `J` is the
  sentence's true length and padding gets weight 0, so padding changes
  nothing.

  Args:
    words: `[L]` int word ids, 0 = padding.
    embedding_size: `d` >= 1.

  Returns:
    `[L, d]` float32 weights `l[j, k]`.
  """
  return _true_length_weights(words, embedding_size, _centered_pe)


ENCODINGS = ('bow', 'position', 'position_centered')


def encoding_weights(words: Array, embedding_size: int, encoding: str
                     ) -> Array | None:
  """The word weights of a sentence encoding, by name (None for 'bow').

  `'position'`: `position_encoding_weights` (the paper's PE);
  `'position_centered'`: `centered_position_encoding_weights` (the PE of the
  authors' code, also the "bow" reader of the TensorFlow KV-MemNN code);
  `'bow'`: no weights, a plain sum.
  """
  if encoding == 'bow':
    return None
  if encoding == 'position':
    return position_encoding_weights(words, embedding_size)
  if encoding == 'position_centered':
    return centered_position_encoding_weights(words, embedding_size)
  raise ValueError(f'Unknown encoding {encoding!r}; expected one of '
                   f'{ENCODINGS}.')


def bag_of_words(embeddings: Array, words: Array, *,
                 weights: Array | None = None) -> Array:
  """Sentence encoding `m = sum_j l_j * A x_j` (MemN2N sec. 2.1 and 4.1).

  Bag of words (`weights=None`, all `l_j = 1`) or position-weighted. Padding
  words (id 0) contribute zero whatever their embedding.

  Args:
    embeddings: `[L, d]` the embedded words `A x_j`.
    words: `[L]` int word ids, 0 = padding.
    weights: optional `[L, d]` per-word, per-dimension weights `l_j`, e.g.
      from `position_encoding_weights`.

  Returns:
    `[d]` sentence vector.
  """
  chex.assert_rank([embeddings, words], [2, 1])
  chex.assert_equal_shape_prefix([embeddings, words], 1)
  if weights is not None:
    chex.assert_equal_shape([embeddings, weights])
    embeddings = embeddings * weights
  real = (words != 0).astype(embeddings.dtype)
  return real @ embeddings


def masked_softmax(logits: Array, mask: Array) -> Array:
  """Softmax over the unmasked slots only.

  `p_i = mask_i exp(z_i) / sum_j mask_j exp(z_j)`. Masked slots get exactly
  0; when every slot is masked the result is all zeros (not NaN), and the
  gradient is finite too.

  Args:
    logits: `[M]` scores.
    mask: `[M]` nonzero / True = a real slot.

  Returns:
    `[M]` weights that sum to one over the real slots (or all zero).
  """
  chex.assert_rank([logits, mask], [1, 1])
  chex.assert_equal_shape([logits, mask])
  mask = mask.astype(bool)
  top = jnp.max(jnp.where(mask, logits, -jnp.inf))
  top = jax.lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0.0))
  e = jnp.where(mask, jnp.exp(jnp.where(mask, logits - top, 0.0)), 0.0)
  total = jnp.sum(e)
  return e / jnp.where(total > 0.0, total, 1.0)


def memory_attention(memory_keys: Array, query: Array, mask: Array, *,
                     linear: bool | Array = False) -> Array:
  """Attention over memories (MemN2N eq. 1, KV-MemNN sec. 3.1 key addressing).

  `p_i = softmax(u^T m_i)` over the real slots. With `linear` (MemN2N
  sec. 4.2, linear start) the softmax is removed: `p_i = u^T m_i` on real
  slots and 0 on masked ones.

  Args:
    memory_keys: `[M, d]` memory vectors `m_i` (or keys `A Phi_K(k_h)`).
    query: `[d]` controller state `u` (or `q`).
    mask: `[M]` nonzero / True = a real slot.
    linear: Python bool or a traced `[]` bool (e.g. `step < until`).

  Returns:
    `[M]` weights; zero on masked slots.
  """
  chex.assert_rank([memory_keys, query, mask], [2, 1, 1])
  chex.assert_equal_shape_suffix([memory_keys, query], 1)
  chex.assert_equal_shape_prefix([memory_keys, mask], 1)
  return attention_from_scores(memory_keys @ query, mask, linear=linear)


def memory_read(values: Array, weights: Array) -> Array:
  """Response vector `o = sum_i p_i c_i` (MemN2N eq. 2, KV-MemNN sec. 3.1).

  Args:
    values: `[M, d]` output memories `c_i` (or values `A Phi_V(v_h)`).
    weights: `[M]` attention `p_i`.

  Returns:
    `[d]` read vector.
  """
  chex.assert_rank([values, weights], [2, 1])
  chex.assert_equal_shape_prefix([values, weights], 1)
  return weights @ values


def memory_age(mask: Array, *, gaps: Array | None = None) -> Array:
  """Temporal index of each memory as its age (MemN2N sec. 4.1).

  The most recent real slot has age 0, the one before it age 1, and so on:
  `age_i = #{real j > i} + sum_{real j >= i} gaps_j`, so the index does not
  depend on how many slots the story has, and empty slots anywhere are
  skipped. `gaps_j` counts empty memories inserted just after memory `j` in
  time (MemN2N sec. 4.2, random noise): each one ages memory `j` and all
  older memories by one. Ages of empty slots are meaningless (they are
  masked out by the caller).

  Args:
    mask: `[M]` nonzero / True = a real slot, slots in time order (oldest
      first).
    gaps: optional `[M]` int number of empty memories after each slot.

  Returns:
    `[M]` int32 ages (unclipped).
  """
  chex.assert_rank(mask, 1)
  real = mask.astype(bool).astype(jnp.int32)
  newer_or_self = jnp.cumsum(real[::-1])[::-1]
  age = newer_or_self - real
  if gaps is not None:
    chex.assert_equal_shape([mask, gaps])
    age = age + jnp.cumsum((real * gaps.astype(jnp.int32))[::-1])[::-1]
  return age


# --- Factored form of the sentence encodings. ---
#
# Every encoding's word weight factors as `l[j, k] = sum_s c[j, s] g[s, k]`
# with `S <= 2` terms: a weight per word position (`c`, through the sentence
# length) times a weight per embedding dimension (`g`). A sentence vector
# `sum_j l_j * A x_j` is then `sum_s g_s * (n_s A)` with the weighted count
# vectors `n_s[v] = sum_j c[j, s] [x_j = v]` (`weighted_counts`), and its dot
# product with a query `u` is `sum_{j, s} c[j, s] (A (g_s * u))[x_j]`: scalar
# look-ups and products with `[V, d]` tables instead of gathers of `[L, d]`
# word vectors (and their scatter-add gradients).


def encoding_factors(words: Array, embedding_size: int, encoding: str, *,
                     length: int | None = None) -> tuple[Array, Array]:
  """The word weights of a sentence encoding as a sum of `S` outer products.

  `encoding_weights(words, d, encoding)[j, k] == sum_s c[j, s] g[s, k]`
  (`'bow'`: `S = 1`, `c` the real-word indicator, `g = 1`; the position
  encodings: `S = 2`). With `length` the word at position `j` (1-based,
  padding included) is weighted with `J = length`, as
  `position_encoding(L, d, length=length)` (the authors' padded `J`).
  Padding words get `c = 0`.

  Args:
    words: `[L]` int word ids, 0 = padding.
    embedding_size: `d` >= 1.
    encoding: one of `ENCODINGS`.
    length: None (the true length) or the fixed `J` >= `L`.

  Returns:
    `(c [L, S], g [S, d])` float32.
  """
  chex.assert_rank(words, 1)
  real = (words != 0).astype(jnp.float32)
  if length is None:
    # The rank of each real word: a cumulative sum, as a product with a
    # triangular matrix (exact for these small integers; XLA's CPU cumsum is
    # a slow reduce-window).
    size = words.shape[0]
    j = real @ jnp.triu(jnp.ones((size, size), jnp.float32))
    total = jnp.maximum(jnp.sum(real), 1.0)
  else:
    j = jnp.arange(1, words.shape[0] + 1, dtype=jnp.float32)
    total = jnp.float32(length)
  c, g = position_factors(j, total, embedding_size, encoding)
  return c * real[:, None], g


def position_factors(j: Array, length: Array, embedding_size: int,
                     encoding: str) -> tuple[Array, Array]:
  """`(c [..., S], g [S, d])` with `l(j, k; J) = sum_s c[s] g[s, k]`.

  `'position'`: `(1 - j/J) - (k/d)(1 - 2j/J)`, i.e. `c = (1 - j/J,
  2j/J - 1)`, `g = (1, k/d)`; `'position_centered'`:
  `1 + 4 (k - (d+1)/2)(j - (J+1)/2)/(dJ)`, i.e. `c = (1, (j - (J+1)/2)/J)`,
  `g = (1, 4 (k - (d+1)/2)/d)`; `'bow'`: `c = (1,)`, `g = (1,)`.
  """
  j = jnp.asarray(j, jnp.float32)
  d = jnp.float32(embedding_size)
  k = jnp.arange(1, embedding_size + 1, dtype=jnp.float32)
  ones = jnp.ones_like(j)
  if encoding == 'bow':
    return ones[..., None], jnp.ones((1, embedding_size), jnp.float32)
  if encoding == 'position':
    c = jnp.stack([1.0 - j / length, 2.0 * j / length - 1.0], axis=-1)
    return c, jnp.stack([jnp.ones_like(k), k / d])
  if encoding == 'position_centered':
    c = jnp.stack([ones, (j - (length + 1.0) / 2.0) / length], axis=-1)
    return c, jnp.stack([jnp.ones_like(k), 4.0 * (k - (d + 1.0) / 2.0) / d])
  raise ValueError(f'Unknown encoding {encoding!r}; expected one of '
                   f'{ENCODINGS}.')


def weighted_counts(ids: Array, coefficients: Array, size: int, *,
                    mode: str = 'drop') -> Array:
  """Weighted count vectors `n[v, s] = sum_j c[j, s] [ids_j = v]`.

  Computed as a scatter-add of the `N` coefficient rows (no gradient flows
  to `ids`; the counts are constants of a sentence's words), not as a
  product with a one-hot `[N, V]` matrix, which costs `V` times more.

  Args:
    ids: `[N]` int ids in `[0, size)`.
    coefficients: `[N, S]` weight of each id in each of the `S` counts.
    size: `V`, the number of ids.
    mode: the scatter's index mode: 'drop' ignores ids outside `[0, V)`;
      'promise_in_bounds' skips the check (every id must be in range).

  Returns:
    `[V, S]` counts, of the dtype of `coefficients`.
  """
  chex.assert_rank([ids, coefficients], [1, 2])
  chex.assert_equal_shape_prefix([ids, coefficients], 1)
  zeros = jnp.zeros((size, coefficients.shape[1]), coefficients.dtype)
  return zeros.at[ids].add(coefficients, mode=mode)


def attention_from_scores(scores: Array, mask: Array, *,
                          linear: bool | Array = False) -> Array:
  """`memory_attention` given the scores `u^T m_i` `[M]` instead of `m_i`."""
  chex.assert_rank([scores, mask], [1, 1])
  if isinstance(linear, bool):
    if linear:
      return jnp.where(mask.astype(bool), scores, 0.0)
    return masked_softmax(scores, mask)
  chex.assert_rank(linear, 0)
  return jnp.where(linear, jnp.where(mask.astype(bool), scores, 0.0),
                   masked_softmax(scores, mask))
