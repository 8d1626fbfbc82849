"""End-To-End Memory Networks (Sukhbaatar et al. 2015), for bAbI-style QA.

Shapes: `B` batch, `M` sentence slots, `L` words per sentence, `V`
vocabulary, `d` embedding size, `K` hops. Word id 0 is padding; a slot is
empty iff all its ids are 0. Inputs follow the bAbI contract:
`{'story': [B, M, L], 'query': [B, L], ...}` (other keys are ignored).

Parameters (embedding tables are `[V, d]`, rows are word vectors, i.e. the
transpose of the paper's `d x V` matrices; every weight starts from
`N(0, init_std^2)`, sec. 4.2):

- `weight_tying='adjacent'` (sec. 2.2 (1)): `embeddings [K+1, V, d]` with
  `B = A^1 = embeddings[0]`, `C^k = A^{k+1} = embeddings[k]` and the answer
  matrix `W = C^K = embeddings[K]`; with temporal encoding
  `temporal [K+1, temporal_size, d]`, tied the same way
  (`T_A^k = temporal[k-1]`, `T_C^k = temporal[k]`).
- `weight_tying='layerwise'` (sec. 2.2 (2)): one `A`, `C`, `T_A`, `T_C` for
  all hops, a separate query embedding `B`, answer matrix `W [V, d]` and the
  hop map `H [d, d]`: `u^{k+1} = H u^k + o^k`.

The answer is `a = softmax(W u^{K+1})` (the paper's `W(o^K + u^K)` for
adjacent tying; `W(H u^K + o^K)` for layer-wise), returned as logits.

Random noise (sec. 4.2, "randomly add 10% of empty memories to the
stories"): at train time each real memory draws a Bernoulli(`random_noise`)
empty memory placed just after it in time. An inserted empty memory only
shifts the temporal index (age) of that memory and every older one by one;
it is not added as an attendable slot (by default empty slots never
receive attention; see below), so it acts through the temporal encoding
only, and does nothing when `temporal_encoding=False`.

Empty slots: by default (`mask_empty_slots=True`) the attention is a softmax
over the story's sentences only. With `mask_empty_slots=False` the `M - n`
empty (padding) slots of a story of `n` sentences stay in the softmax with
zero memory and output vectors (logit 0, nothing read), as in the authors'
Matlab code (memories reset to the nil word, whose input embedding is zeroed
after every update, and a softmax over all `sz` slots) and in the widely
used TensorFlow reimplementation (domluna/memn2n: a fixed zero nil row and
a softmax over all slots). The empty slots then act as an attention sink
whose weight grows with the free memory, so the function depends on `M`.
"""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import custom_batching

from memax.ops import attention
from memax.types import Array, ModelOutput

_TYING = ('adjacent', 'layerwise')
_ENCODING = attention.ENCODINGS
_POSITION_LENGTH = ('sentence', 'padded')


def encode_sentence(table: Array, words: Array, *, encoding: str,
                    weights: Array | None = None) -> Array:
  """Embeds one sentence `[L]` with `table [V, d]` into `[d]` (sec. 4.1).

  `encoding='position'` weights each word with the position encoding of the
  sentence's true length; `'position_centered'` with the variant of the
  authors' released code (centred on 1, about twice the paper's weights;
  `memax.ops.centered_position_encoding_weights`); `'bow'` sums the word
  vectors. Given `weights [L, d]` (a fixed table for padded positions) are
  used instead of the per-sentence ones.
  """
  embedded = table[words]
  if weights is None:
    weights = attention.encoding_weights(words, table.shape[-1], encoding)
  return attention.bag_of_words(embedded, words, weights=weights)


@jax.custom_vjp
def _scale_rows(values: Array, p: Array) -> Array:
  """`values [M, K] * p[:, None]`; `values` is a constant (no gradient).

  Its gradient for `p` is a matrix-vector product, not a reduce of the
  `[M, K]` product (XLA's CPU reduce of short rows is several times slower).
  """
  return values * p[:, None]


def _scale_rows_fwd(values, p):
  return values * p[:, None], values


def _scale_rows_bwd(values, g):
  return jnp.zeros_like(values), _row_dots(g, values)


_scale_rows.defvjp(_scale_rows_fwd, _scale_rows_bwd)


# XLA's CPU backend runs a product that contracts the leading axis of an
# operand (`x.T @ y`: the weight gradient of every `x @ w`, and the read
# `r^T C`) in a generic kernel 2-3x slower than the row-major products it
# hands to its fast library. The three products below choose the layout of
# each of their forward and backward products: the transposed tables are
# materialised once per step, and an optimization barrier keeps XLA from
# folding a transpose back into the product it feeds.
_barrier = jax.lax.optimization_barrier


@jax.custom_vjp
def _counts_product(counts: Array, table: Array, table_t: Array) -> Array:
  """`counts.T @ table` `[N, d]` for `counts [V, N]`; `table_t = table.T`."""
  return _barrier(table_t @ counts).T


def _counts_product_fwd(counts, table, table_t):
  return _counts_product(counts, table, table_t), (counts, table, table_t)


def _counts_product_bwd(residuals, g):
  counts, table, table_t = residuals
  return table @ g.T, counts @ g, jnp.zeros_like(table_t)


_counts_product.defvjp(_counts_product_fwd, _counts_product_bwd)


@jax.custom_vjp
def _keys_product(table: Array, table_t: Array, queries: Array) -> Array:
  """`table @ queries.T` `[V, N]` for `queries [N, d]`; `table_t = table.T`."""
  return table @ queries.T


def _keys_product_fwd(table, table_t, queries):
  return table @ queries.T, (table_t, queries)


def _keys_product_bwd(residuals, g):
  table_t, queries = residuals
  return g @ queries, jnp.zeros_like(table_t), _barrier(table_t @ g).T


_keys_product.defvjp(_keys_product_fwd, _keys_product_bwd)


@jax.custom_vjp
def _answer_product(u: Array, answer: Array) -> Array:
  """`u @ answer.T` `[B, V]` for `u [B, d]`, `answer [V, d]`."""
  return u @ answer.T


def _answer_product_fwd(u, answer):
  return u @ answer.T, (u, answer)


def _answer_product_bwd(residuals, g):
  u, answer = residuals
  return g @ answer, _barrier(g.T) @ u


_answer_product.defvjp(_answer_product_fwd, _answer_product_bwd)


@custom_batching.custom_vmap
def _all_members(fits: Array) -> Array:
  """`fits`, made unbatched under `vmap` (population members): all of them.

  Under `vmap` a `lax.cond` on a batched predicate runs both branches; one
  predicate for all members keeps one branch (both compute the same
  function, so each member's result is unchanged).
  """
  return fits


@_all_members.def_vmap
def _all_members_vmap(axis_size, in_batched, fits):
  del axis_size
  return (jnp.all(fits) if in_batched[0] else fits), False


def _row_dots(a: Array, b: Array) -> Array:
  """`sum(a * b, axis=-1)` `[M, K] -> [M]`, as a product with ones."""
  return (a * b) @ jnp.ones((a.shape[-1],), a.dtype)


def padded_position_weights(encoding: str, sentence_size: int,
                            embedding_size: int, *, time_word: bool
                            ) -> tuple[Array | None, Array | None]:
  """The position weights of the authors' code: `J` = the padded length.

  Returns `(words [L, d], time [d])`: position `j` of every sentence gets row
  `j` of one table with `J = L`, or `J = L + 1` when a time word (temporal
  encoding) takes the last position, whose row then weights the temporal
  embedding (`time`, else None). `(None, None)` for 'bow'.
  """
  if encoding == 'bow':
    return None, None
  length = sentence_size + int(time_word)
  table = attention.position_encoding(
      length, embedding_size, centered=encoding == 'position_centered')
  return table[:sentence_size], (table[-1] if time_word else None)


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
  if value not in allowed:
    raise ValueError(
        f'config.model.{name}={value!r}; expected one of {list(allowed)}.')


class MemN2N(nn.Module):
  """End-To-End Memory Network (Sukhbaatar et al. 2015, sec. 2).

  Attributes:
    vocab_size: `V`, input and answer vocabulary (id 0 = padding).
    embedding_size: `d` (sec. 4.2: 20 on bAbI).
    num_hops: `K` (sec. 4.2: 3).
    weight_tying: 'adjacent' or 'layerwise' (sec. 2.2).
    encoding: 'position' (PE, sec. 4.1), 'position_centered' (the PE of the
      authors' code) or 'bow' sentence encoding.
    position_length: `J` of the position encoding: 'sentence' (the paper:
      the sentence's true length, padding changes nothing) or 'padded' (the
      authors' code: the padded length `L`, plus one for the time word,
      whose temporal embedding is then weighted by the last row;
      `padded_position_weights`).
    temporal_encoding: add learned `T_A(i)`, `T_C(i)` by memory age
      (sec. 4.1 TE).
    random_noise: expected number of empty memories inserted per real memory
      at train time (sec. 4.2 RN: 0.1); see the module docstring.
    temporal_size: rows of the temporal tables; older memories share the
      last row.
    mask_empty_slots: softmax over the sentences only (True), or over all
      `M` slots with empty ones as zero vectors (False; the authors' code).
    init_std: standard deviation of the Gaussian initialisation (sec. 4.2).
    slots_per_example: speed only, the function is the same: the hops read
      at most `B * slots_per_example` non-empty slots of a batch, gathered
      into one list (bAbI stories fill 9 of 50 slots on average); a batch
      with more runs over all `B * M` slots instead (`lax.cond`; in a
      population, all members do when one needs it). 0: always all slots.
  """

  # Random-number streams the model draws from (the trainer provides them).
  rng_streams = ('noise',)

  vocab_size: int
  embedding_size: int = 20
  num_hops: int = 3
  weight_tying: str = 'adjacent'
  encoding: str = 'position'
  position_length: str = 'sentence'
  temporal_encoding: bool = True
  random_noise: float = 0.1
  temporal_size: int = 50
  mask_empty_slots: bool = True
  init_std: float = 0.1
  slots_per_example: int = 16

  @nn.compact
  def __call__(self, inputs: dict[str, Array], *, train: bool = False,
               linear: bool | Array = False) -> ModelOutput:
    """Answers the query from the story.

    Args:
      inputs: `{'story': [B, M, L] int, 'query': [B, L] int, ...}`.
      train: enables random noise (needs the 'noise' rng).
      linear: attention without the softmax (sec. 4.2 LS, linear start), a
        bool or a traced `[]` bool; the trainer's `train.linear_start_epochs`
        sets it from the step.

    Returns:
      `logits [B, V]`, no losses, and `aux['attention']` `[B, K, M]`:
      with linear attention the
      attention holds the raw scores `u^T m_i` (0 on empty slots), otherwise
      a softmax over the non-empty slots (all zero for an empty story).
    """
    _check('weight_tying', self.weight_tying, _TYING)
    _check('encoding', self.encoding, _ENCODING)
    _check('position_length', self.position_length, _POSITION_LENGTH)
    story = jnp.asarray(inputs['story'])
    query = jnp.asarray(inputs['query'])
    chex.assert_rank([story, query], [3, 2])
    chex.assert_equal_shape_prefix([story, query], 1)
    hops, size = self.num_hops, self.embedding_size
    vocab = self.vocab_size
    init = nn.initializers.normal(self.init_std)

    # The story's tables, stacked `[N, V', d]` (the temporal rows appended:
    # the time word of age `a` is the extra id `V + a`): hop k reads
    # `A^k = memory[in_ids[k]]` and `C^k = memory[out_ids[k]]`.
    temporal = self.temporal_encoding
    join = lambda t, tt: jnp.concatenate([t, tt], axis=-2)
    temporal_shape = (self.temporal_size, size)
    if self.weight_tying == 'adjacent':
      tables = self.param('embeddings', init, (hops + 1, vocab, size))
      answer, hop_map, memory = tables[hops], None, tables
      if temporal:
        memory = join(tables, self.param('temporal', init,
                                         (hops + 1,) + temporal_shape))
      in_ids, out_ids = list(range(hops)), list(range(1, hops + 1))
    else:
      query_table = self.param('B', init, (vocab, size))
      a_table = self.param('A', init, (vocab, size))
      c_table = self.param('C', init, (vocab, size))
      answer = self.param('W', init, (vocab, size))
      hop_map = self.param('H', init, (size, size))
      if temporal:
        a_table = join(a_table, self.param('T_A', init, temporal_shape))
        c_table = join(c_table, self.param('T_C', init, temporal_shape))
      memory = jnp.stack([a_table, c_table])
      in_ids, out_ids = [0] * hops, [1] * hops
    # Their transposes `[d, V']`, for the products' layouts (no gradient
    # flows through them; see `_counts_product`).
    memory_t = [_barrier(t.T) for t in jax.lax.stop_gradient(memory)]

    batch, slots = story.shape[:2]
    slot_mask = jnp.any(story != 0, axis=-1)  # [B, M]
    gaps = jnp.zeros(slot_mask.shape, jnp.int32)
    if train and self.temporal_encoding and self.random_noise > 0:
      gaps = jax.random.bernoulli(
          self.make_rng('noise'), self.random_noise, slot_mask.shape)
    age = jax.vmap(lambda m, g: attention.memory_age(m, gaps=g))(
        slot_mask, gaps)
    age = jnp.minimum(age, self.temporal_size - 1)

    # Score-space form (`attention.encoding_factors`): the word weights are
    # `l[j, k] = sum_s c[j, s] g[s, k]` (S <= 2), so with the tables extended
    # by the temporal rows (the time word of age `a` is the extra id `V + a`)
    # a memory is `m_i = sum_{j, s} c[i, j, s] g_s * A[x_ij]`. The attention
    # needs only `u^T m_i = sum_{j, s} c[i, j, s] keys[x_ij, s]` with
    # `keys = A (g_s * u)` `[V', S]` (one matrix product for the batch, then
    # scalar look-ups), and the read only `sum_i p_i c_i = sum_s g_s * (r_s C)`
    # with the weighted counts `r [V', S]` of the story's words (a scatter-add
    # of scalars). Same function as gathering `[M, L, d]` word vectors per
    # table (`encode_sentence`), without those gathers or their `[V, d]`
    # scatter-add gradients. Empty slots add nothing to either sum, so the
    # hops run over the batch's non-empty slots only (`slots_per_example`).
    fixed = None
    if self.position_length == 'padded':
      fixed = story.shape[-1] + int(self.temporal_encoding)
    _, dims = attention.position_factors(
        jnp.float32(1.0), jnp.float32(1.0), size, self.encoding)  # g [S, d]
    terms = dims.shape[0]
    time_coef = jnp.zeros((terms,), jnp.float32).at[0].set(1.0)  # g_0 = 1
    if fixed is not None and self.encoding != 'bow':
      time_coef, _ = attention.position_factors(
          jnp.float32(fixed), jnp.float32(fixed), size, self.encoding)
    rows = memory.shape[1]  # V'
    # Word ids are in `[0, V)` (the input contract) and ages are clipped:
    # the look-ups inside the hops skip their bounds checks.
    in_bounds = 'promise_in_bounds'
    factors = lambda words: attention.encoding_factors(
        words, size, self.encoding, length=fixed)[0]  # [L, S]

    # The query's weighted counts, laid out `[V, B S]` (row `id B + b`).
    if self.weight_tying == 'adjacent':  # B = A^1, with its temporal rows
      query_table, query_table_t = memory[0], memory_t[0]
    else:
      query_table_t = _barrier(jax.lax.stop_gradient(query_table).T)
    query_rows = (query * batch + jnp.arange(batch)[:, None]).reshape(-1)
    query_counts = attention.weighted_counts(
        query_rows, jax.vmap(factors)(query).reshape(-1, terms),
        query_table.shape[0] * batch, mode=in_bounds)
    u = _counts_product(query_counts.reshape(-1, batch * terms), query_table,
                        query_table_t)  # [B S, d]
    u = jnp.sum(u.reshape(batch, terms, size) * dims, axis=1)  # [B, d]
    attend = slot_mask if self.mask_empty_slots else jnp.ones_like(slot_mask)
    attend_fn = jax.vmap(
        lambda s, m: attention.attention_from_scores(s, m, linear=linear))
    sentences = story.reshape(batch * slots, -1)  # [B M, L]
    slot_ages = age.reshape(-1)
    real_slots = slot_mask.reshape(-1)

    def hops_over(index, used):
      """The hops, reading the batch's slots `index [C]` (of the flat `B M`).

      Slots not in `index` must be empty; `used [C]` is False where `index`
      repeats a filler.
      """
      valid = (real_slots[index] & used).astype(jnp.float32)
      words = sentences[index]  # [C, L]
      coef = jax.vmap(factors)(words) * valid[:, None, None]  # [C, L, S]
      ids = words
      if self.temporal_encoding:
        ids = jnp.concatenate([ids, (vocab + slot_ages[index])[:, None]], 1)
        time = valid[:, None, None] * time_coef
        coef = jnp.concatenate([coef, time], axis=1)
      # Row `id B + b` of the batch's keys and counts, laid out `[V', B, S]`
      # so that both products below take row-major operands.
      row = (ids * batch + (index // slots)[:, None]).reshape(-1)  # [C L']
      coef = coef.reshape(index.shape[0], -1)  # [C, L'S]
      u_k, weights = u, []
      for k in range(hops):
        # keys[v, b, s] = A[v] . (g_s * u_b): one product for the batch.
        queries = (u_k[:, None, :] * dims).reshape(-1, size)  # [B S, d]
        keys = _keys_product(memory[in_ids[k]], memory_t[in_ids[k]],
                             queries)  # [V', B S]
        looked_up = keys.reshape(-1, terms).at[row].get(mode=in_bounds)
        scores = jnp.zeros((batch * slots,), jnp.float32).at[index].add(
            _row_dots(looked_up.reshape(coef.shape), coef), mode=in_bounds)
        p = attend_fn(scores.reshape(batch, slots), attend)
        p_read = p.reshape(-1).at[index].get(mode=in_bounds)  # [C]
        read = attention.weighted_counts(
            row, _scale_rows(coef, p_read).reshape(-1, terms), rows * batch,
            mode=in_bounds).reshape(rows, batch * terms)
        o = _counts_product(read, memory[out_ids[k]], memory_t[out_ids[k]])
        o = o.reshape(batch, terms, size)
        o = jnp.sum(o * dims, axis=1)  # sum_s g_s * (r_s C)
        u_k = (u_k if hop_map is None else u_k @ hop_map.T) + o
        weights.append(p)
      return _answer_product(u_k, answer), jnp.stack(weights, axis=1)

    every = jnp.arange(batch * slots)
    capacity = batch * self.slots_per_example
    if self.slots_per_example <= 0 or capacity >= batch * slots:
      logits, weights = hops_over(every, jnp.ones((), bool))
    else:
      # The batch's non-empty slots, compacted: the hops' look-ups and
      # scatters then scale with the story's sentences, not with `M`.
      count = jnp.sum(real_slots.astype(jnp.int32))
      (index,) = jnp.nonzero(real_slots, size=capacity, fill_value=0)
      fits = _all_members(count <= capacity)
      # The rare fallback is rematerialised in the backward pass, so the
      # cond does not carry (and zero-fill) its large residuals every step.
      logits, weights = jax.lax.cond(
          fits, lambda: hops_over(index, jnp.arange(capacity) < count),
          lambda: jax.checkpoint(hops_over)(every, jnp.ones((), bool)))
    return ModelOutput(logits, {}, {'attention': weights})
