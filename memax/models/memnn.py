"""The strongly supervised Memory Network (Weston, Chopra & Bordes 2015).

"Memory Networks" (ICLR 2015), secs. 3.1-3.4, as used for bAbI in Weston et
al. 2015, "Towards AI-Complete Question Answering". The four components:

- I: bag-of-words features of the question and of every statement.
- G: each statement is stored in the next slot; the story array of a batch
  already is that memory (slots in time order, empty slots all-zero).
- O: `k` hard lookups (`num_hops`),
  `o_1 = argmax_i s_O(x, m_i)`, `o_2 = argmax_i s_O([x, m_o1], m_i)`, ...
- R: `r = argmax_w s_R([x, m_o1, m_o2, ...], w)` over the vocabulary.

`s(x, y) = Phi_x(x)^T U^T U Phi_y(y)` with separate `U_O` and `U_R`. The
`3|W|`-dimensional feature map is implemented as one `[V, E]` embedding table
per role (question words, words of supporting memories on the input side,
words of the candidate); see `memax.ops.memnn` for why that is the same
function. With write-time features (sec. 3.4) the O lookups compare memories
in pairs, each pair scored older-first as in the paper's loop over memories
in write order (`memax.ops.memnn.ordered_comparisons`), and pick the one whose
worst comparison is best: the one that beats all others when there is one
(`memax.ops.memnn.tournament_scores`).

Training (strong supervision, sec. 3.1 eqs. 6-8 and sec. 3.4): a margin
ranking loss on the true supporting facts (teacher forcing: hop `k` sees the
true facts `f_1 .. f_{k-1}`) and on the answer word. The loss is returned as
`losses['margin']` (its config gives the task's cross-entropy weight 0); `logits` are the R scores of every word after the model's own
lookups, so evaluation never uses the supporting facts.

Supporting facts and hops. bAbI tasks need 1 to 3 facts and the number varies
between (and within) tasks, while the model makes `num_hops` lookups. With
`null_memory=True` (our addition, not in the paper) a learned "no fact"
candidate competes in every lookup: it is the target of the hops beyond an
example's last supporting fact, and choosing it adds nothing to the input of
the next hops and of R, so single-fact tasks are answered from `[x, m_o1]`
exactly as they were trained. With `null_memory=False` those hops have no
loss term (at test time they still add their argmax memory). Facts beyond
`num_hops` are ignored (the first `num_hops`, in file order, are used).

Extensions of Weston et al. 2015 ("Towards AI-Complete Question Answering",
the MemNN baselines), behind the published strongly supervised results:

- NG (`ngram_sizes`): a bag of n-grams (the paper uses 3-grams) besides the
  bag of words in the feature maps `Phi`, so that word order can count. The
  n-grams are hashed into `ngram_buckets` rows of one extra table per role
  (`memax.ops.memnn.ngram_ids`) rather than looked up in a dictionary.
- NL (`hidden_size`): a two-layer tanh network in the matching function.
  Our reading: the input side's embedding `u = U Phi_x([x, m_o1, ...])`
  passes through `g(u) = W_2 tanh(W_1 u + b)` before the dot product with
  the candidate's `U Phi_y(y)` (separate networks for O and R). This lets
  yes/no and counting answers depend on how the question and the facts
  combine.
- `extend_lookups=False` applies NG and NL to R only (the answer), leaving
  the O lookups with the plain scoring.
- `ordered_facts` (our addition, not in either paper): R embeds the fact of
  lookup `k` with its own table `U_R^(k)` (and n-gram table), so the answer
  knows which lookup found which fact. The plain R sums the facts' bags,
  which loses their order: for coreference (tasks 11 and 13), "Where is
  Mary?" has the facts "Mary went back to the bathroom." (found first, by
  the name) and "After that she went to the bedroom." (found second), and
  the answer is the second fact's place, which a sum of both bags cannot
  tell from the first's.
- AM (adaptive memories): the lookups stop when a "stop" memory is chosen.
  `null_memory` plays that role: once chosen, later hops add nothing, so
  `num_hops` only bounds the number of facts. The second half of AM,
  answers of several words generated one by one (tasks 8 and 19), is not
  needed here because each answer, lists included, is one token of the
  vocabulary (`memax.data.babi`).
"""

from collections.abc import Mapping

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from memax.ops import memnn as memnn_ops
from memax.types import Array, ModelOutput


class MemNN(nn.Module):
  """Strongly supervised Memory Network with hard lookups.

  Inputs (`memax.tasks.babi`): `'story'` `[B, M, L]` int (slot 0 oldest,
  empty slots all-zero), `'query'` `[B, L]` int; for training also
  `'supporting'` `[B, S]` int (slot indices in file order, -1 = none) and
  `'answer'` `[B]` int (the answer word id).

  Attributes:
    vocab_size: `V`, words of the input and answer vocabulary (0 = padding).
    embedding_size: `E`, rows of `U_O` and `U_R`.
    num_hops: `k`, supporting-fact lookups (2 for bAbI; 3 for task 3).
    margin: `gamma` of the margin ranking loss (sec. 3.1).
    num_negatives: negatives drawn per lookup and for the answer; 0 = all
      (every other non-empty slot / every other word).
    time_features: the write-time pairwise scoring of sec. 3.4 (needed for
      recency: "where is Mary" wants her latest move); False = the plain
      argmax of eqs. 2-3.
    null_memory: add the learned "no fact" candidate (see module docstring).
    ngram_sizes: the n-gram extension (NG, see module docstring): n-gram
      lengths whose hashed bags are added to every bag of words; () = off.
    ngram_buckets: hash buckets of the n-gram tables (one per role).
    hidden_size: the nonlinear extension (NL): width of the tanh layer of
      the two-layer matching network; 0 = the linear `U^T U` scoring.
    extend_lookups: apply NG and NL to the O lookups as well as to R
      (False: only R, the answer, gets them; the lookups keep the plain
      bag-of-words scoring).
    ordered_facts: R embeds each lookup's fact with its own table (see the
      module docstring); False = one table for all facts.
    init_std: standard deviation of the normal initialisation.
  """

  # Random-number streams the model draws from (the trainer provides them).
  rng_streams = ('noise',)

  vocab_size: int
  embedding_size: int = 50
  num_hops: int = 2
  margin: float = 0.1
  num_negatives: int = 0
  time_features: bool = True
  null_memory: bool = True
  ngram_sizes: tuple[int, ...] = ()
  ngram_buckets: int = 8192
  hidden_size: int = 0
  extend_lookups: bool = True
  ordered_facts: bool = False
  init_std: float = 0.1

  @nn.compact
  def __call__(self, inputs: Mapping[str, Array], *, train: bool = False
               ) -> ModelOutput:
    """Answers the questions of a batch.

    Args:
      inputs: the dict described in the class docstring.
      train: also return the margin ranking loss as `losses['margin']`.

    Returns:
      `logits` `[B, V]`: `s_R([x, m_o1, ...], w)` for every word `w`, and
      `aux` with `'attention'` `[B, K, M]` (one-hot of the slot chosen by
      each hop, zero when the "no fact" candidate is chosen), `'chosen'`
      `[B, K]` (slot index, -1 = none), `'support_accuracy'` `[]` when
      `'supporting'` is given; `losses` `{'margin': []}` when `train`
      (else empty).

    Raises:
      ValueError: `train=True` without `'supporting'` or `'answer'` inputs,
        or `num_hops < 1`.
    """
    if self.num_hops < 1:
      raise ValueError(f'num_hops must be >= 1, got {self.num_hops}.')
    if any(n < 1 for n in self.ngram_sizes) or self.ngram_buckets < 1:
      raise ValueError('ngram_sizes must be positive lengths and '
                       f'ngram_buckets >= 1, got {self.ngram_sizes} and '
                       f'{self.ngram_buckets}.')
    if self.hidden_size < 0:
      raise ValueError(f'hidden_size must be >= 0, got {self.hidden_size}.')
    story = jnp.asarray(inputs['story'])
    query = jnp.asarray(inputs['query'])
    chex.assert_rank([story, query], [3, 2])
    supporting = inputs.get('supporting')
    has_support = supporting is not None
    if train:
      for name in ('supporting', 'answer'):
        if inputs.get(name) is None:
          raise ValueError(f"MemNN(train=True) needs inputs[{name!r}] for "
                           'its margin ranking loss.')

    init = nn.initializers.normal(self.init_std)
    shape = (self.vocab_size, self.embedding_size)
    # `ordered_facts`: a leading lookup axis on the tables of R's facts.
    per_hop = (self.num_hops,) if self.ordered_facts else ()
    params = dict(
        o_query=self.param('o_query', init, shape),
        o_support=self.param('o_support', init, shape),
        o_memory=self.param('o_memory', init, shape),
        r_query=self.param('r_query', init, shape),
        r_support=self.param('r_support', init, per_hop + shape),
        r_answer=self.param('r_answer', init, shape),
    )
    for role in self._ngram_roles():
      lead = per_hop if role == 'r_support' else ()
      params[role + '_ngram'] = self.param(
          role + '_ngram', init,
          lead + (self.ngram_buckets + 1, self.embedding_size))
    if self.hidden_size:
      dense = nn.initializers.lecun_normal()
      e, h = self.embedding_size, self.hidden_size
      for side in self._nonlinear_sides():
        params[side + '_hidden'] = self.param(side + '_hidden', dense, (e, h))
        params[side + '_hidden_bias'] = self.param(
            side + '_hidden_bias', nn.initializers.zeros, (h,))
        params[side + '_output'] = self.param(side + '_output', dense, (h, e))
    if self.time_features:
      params['o_time'] = self.param('o_time', init, (3, self.embedding_size))
    if self.null_memory:
      params['o_null'] = self.param('o_null', init, (self.embedding_size,))

    batch = story.shape[0]
    if supporting is None:
      supporting = jnp.full((batch, self.num_hops), -1, jnp.int32)
    supporting = _fit_hops(jnp.asarray(supporting, jnp.int32), self.num_hops)

    encode = jax.vmap(lambda s, q: self._encode(params, s, q))
    memory = encode(story, query)

    chosen, attention, logits = jax.vmap(
        lambda mem: self._infer(params, mem))(memory)
    aux = {'attention': attention, 'chosen': chosen}

    if has_support:
      real = supporting >= 0
      hits = jnp.sum(real & (chosen == supporting))
      aux['support_accuracy'] = hits / jnp.maximum(jnp.sum(real), 1)

    if train:
      answer = jnp.asarray(inputs['answer'], jnp.int32)
      chex.assert_shape(answer, (batch,))
      if self.num_negatives > 0:
        keys = jax.random.split(self.make_rng('noise'), batch)
      else:
        keys = jnp.zeros((batch,), jnp.uint32)  # unused
      losses = jax.vmap(
          lambda mem, sup, ans, key: self._loss(params, mem, sup, ans, key)
      )(memory, supporting, answer, keys)
      return ModelOutput(logits, {'margin': jnp.mean(losses)}, aux)
    return ModelOutput(logits, {}, aux)

  # ---- one example ------------------------------------------------------

  def _phi(self, params: dict[str, Array], words: Array, role: str,
           hop: int | None = None) -> Array:
    """`U Phi_role(words)`: the bag of words, plus the bags of n-grams.

    `hop` picks lookup `hop`'s tables of a role with a lookup axis
    (`ordered_facts`).
    """
    def table(name):
      return params[name] if hop is None else params[name][hop]
    out = memnn_ops.bag_of_words(words, table(role))
    if role not in self._ngram_roles():
      return out
    for n in self.ngram_sizes:
      ids = memnn_ops.ngram_ids(words, n, self.ngram_buckets)  # may be empty
      out = out + memnn_ops.bag_of_words(ids, table(role + '_ngram'))
    return out

  def _ngram_roles(self) -> tuple[str, ...]:
    if not self.ngram_sizes:
      return ()
    return _ROLES if self.extend_lookups else _R_ROLES

  def _nonlinear_sides(self) -> tuple[str, ...]:
    if not self.hidden_size:
      return ()
    return ('o', 'r') if self.extend_lookups else ('r',)

  def _match_input(self, params: dict[str, Array], u: Array, side: str
                   ) -> Array:
    """The input side of the matching function: `u`, or NL's `g(u)`.

    NL: `g(u) = W_2 tanh(W_1 u + b)`, so `s(x, y) = g(U Phi_x(x))^T U Phi_y(y)`
    is a two-layer tanh network of the input's features against the
    candidate's embedding.
    """
    if side not in self._nonlinear_sides():
      return u
    hidden = jnp.tanh(u @ params[side + '_hidden']
                      + params[side + '_hidden_bias'])
    return hidden @ params[side + '_output']

  def _encode(self, params: dict[str, Array], story: Array, query: Array
              ) -> dict[str, Array]:
    """`U Phi` of the question and of every slot in each role; candidates."""
    def bag(words, role):
      return self._phi(params, words, role)

    slots = jax.vmap(bag, in_axes=(0, None))
    slot_valid = jnp.any(story != 0, axis=-1)                        # [M]
    m = story.shape[0]
    mem = dict(
        slot_valid=slot_valid,
        o_x=bag(query, 'o_query'),
        r_x=bag(query, 'r_query'),
        y=slots(story, 'o_memory'),        # candidate role of U_O
        o_m=slots(story, 'o_support'),     # input role of U_O
        valid=slot_valid,
        times=jnp.arange(m, dtype=jnp.int32),
        timed=jnp.ones((m,), bool),
    )
    if self.ordered_facts:
      # Lookup k's tables embed only the fact it chose (`_r_fact`), not
      # every slot K times; row M, all padding, is the "no fact" candidate.
      mem['words'] = jnp.concatenate([story, jnp.zeros_like(story[:1])], 0)
    else:
      mem['r_m'] = slots(story, 'r_support')  # input role of U_R
    if self.null_memory:
      # Candidate `M`: "no fact". No write time; adds nothing when chosen.
      zero = jnp.zeros((1, self.embedding_size), mem['o_m'].dtype)
      if 'r_m' in mem:
        mem['r_m'] = jnp.concatenate([mem['r_m'], zero], 0)
      mem.update(
          y=jnp.concatenate([mem['y'], params['o_null'][None]], 0),
          o_m=jnp.concatenate([mem['o_m'], zero], 0),
          valid=jnp.concatenate([slot_valid, jnp.ones((1,), bool)]),
          times=jnp.arange(m + 1, dtype=jnp.int32),
          timed=jnp.concatenate([mem['timed'], jnp.zeros((1,), bool)]),
      )
    return mem

  def _hop_scores(self, params: dict[str, Array], mem: dict[str, Array],
                  x: Array, x_time: Array) -> tuple[Array, Array | None]:
    """Scores of every candidate for one lookup, and the pairwise matrix."""
    x = self._match_input(params, x, 'o')
    if not self.time_features:
      return memnn_ops.match_scores(x, mem['y']), None
    pairwise = memnn_ops.pairwise_scores(
        x, mem['y'], params['o_time'], mem['times'], x_time, mem['timed'])
    comparisons = memnn_ops.ordered_comparisons(
        pairwise, mem['times'], mem['timed'])
    return memnn_ops.tournament_scores(comparisons, mem['valid']), pairwise

  def _r_fact(self, params: dict[str, Array], mem: dict[str, Array],
              hop: int, index: Array) -> Array:
    """`[E]`: R's embedding of candidate `index` as lookup `hop`'s fact."""
    if not self.ordered_facts:
      return mem['r_m'][index]
    return self._phi(params, mem['words'][index], 'r_support', hop)

  def _infer(self, params: dict[str, Array], mem: dict[str, Array]
             ) -> tuple[Array, Array, Array]:
    """The argmax chain O then R with the model's own lookups."""
    m = mem['slot_valid'].shape[0]
    # The question is written after every statement.
    x, x_time, r = mem['o_x'], jnp.array(m, jnp.int32), mem['r_x']
    chosen, attention = [], []
    for k in range(self.num_hops):
      scores, _ = self._hop_scores(params, mem, x, x_time)
      index, weights = memnn_ops.select(scores, mem['valid'])
      x = x + weights @ mem['o_m']
      r = r + jnp.sum(weights) * self._r_fact(params, mem, k, index)
      is_slot = (index < m) & (jnp.sum(weights) > 0)
      x_time = jnp.where(is_slot, index, x_time)
      chosen.append(jnp.where(is_slot, index, -1))
      attention.append(weights[:m])
    logits = params['r_answer'] @ self._match_input(params, r, 'r')
    return jnp.stack(chosen), jnp.stack(attention), logits

  def _loss(self, params: dict[str, Array], mem: dict[str, Array],
            supporting: Array, answer: Array, key: Array) -> Array:
    """Margin ranking loss of one example with teacher forcing."""
    m = mem['slot_valid'].shape[0]
    sampled = self.num_negatives > 0
    keys = (jax.random.split(key, self.num_hops + 1) if sampled
            else [None] * (self.num_hops + 1))
    x, x_time, r = mem['o_x'], jnp.array(m, jnp.int32), mem['r_x']
    total = jnp.zeros((), x.dtype)
    for k in range(self.num_hops):
      fact = supporting[k]
      safe = jnp.clip(fact, 0, m - 1)
      real = (fact >= 0) & (fact < m) & mem['slot_valid'][safe]
      if self.null_memory:
        target, counts = jnp.where(real, safe, m), jnp.array(True)
      else:
        target, counts = safe, real
      scores, pairwise = self._hop_scores(params, mem, x, x_time)
      negatives, mask = memnn_ops.sample_negatives(
          keys[k], mem['valid'], target, num=self.num_negatives)
      if self.time_features:
        term = memnn_ops.pairwise_margin_loss(
            pairwise, target, negatives, mask, margin=self.margin)
      else:
        term = memnn_ops.margin_ranking_loss(
            scores, target, negatives, mask, margin=self.margin)
      total = total + jnp.where(counts, term, 0.0)
      use = real.astype(x.dtype)
      x = x + use * mem['o_m'][target]
      r = r + use * self._r_fact(params, mem, k, target)
      x_time = jnp.where(real, safe, x_time)
    words = jnp.ones((self.vocab_size,), bool)
    negatives, mask = memnn_ops.sample_negatives(
        keys[-1], words, answer, num=self.num_negatives)
    answer_scores = params['r_answer'] @ self._match_input(params, r, 'r')
    return total + memnn_ops.margin_ranking_loss(
        answer_scores, answer, negatives, mask, margin=self.margin)


# The embedding roles of `U_O` and `U_R` that read sentences (and so get
# n-gram tables); `r_answer` embeds single answer words.
_ROLES = ('o_query', 'o_support', 'o_memory', 'r_query', 'r_support')
_R_ROLES = ('r_query', 'r_support')


def _fit_hops(supporting: Array, num_hops: int) -> Array:
  """`[B, S]` -> `[B, num_hops]`: the first facts, padded with -1."""
  chex.assert_rank(supporting, 2)
  s = supporting.shape[1]
  if s >= num_hops:
    return supporting[:, :num_hops]
  pad = jnp.full((supporting.shape[0], num_hops - s), -1, supporting.dtype)
  return jnp.concatenate([supporting, pad], axis=1)
