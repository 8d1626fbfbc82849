"""Key-Value Memory Networks (Miller et al. 2016, sec. 3), for bAbI-style QA.

Shapes: `B` batch, `M` sentence slots, `L` words per sentence, `V`
vocabulary, `E` embedding size, `F` feature size, `K` hops. Word id 0 is
padding; a slot is empty iff all its ids are 0. Inputs follow the bAbI
contract: `{'story': [B, M, L], 'query': [B, L], ...}`.

The paper's feature map `A` (shared by the question, keys and values) is
factorised as an embedding then a projection: `A Phi(x) = (sum_j l_j *
E[x_j]) P`, with `E [V, E]` ('embedding'), optional position weights `l_j`
(`encoding='position'`) and `P [E, F]` ('projection'). Per hop `j = 1..K`
(sec. 3.1):

    p_h = softmax(q_j . A Phi_K(k_h))   over the real memory slots
    o   = sum_h p_h A Phi_V(v_h)
    q_{j+1} = R_j (q_j + o)              R_j [F, F] ('hop_maps'[j-1])

and the answer logits are `q_{K+1} . B Phi_Y(y_i)` for every vocabulary
entry `y_i`, with `B [V, F]` ('output_embedding'). All weights start from
`N(0, init_std^2)`.

Memory modes (sec. 3.2):
- 'sentence': one slot per sentence, key = value = the sentence.
- 'window': one slot per word position of each sentence (`M*L` slots in
  slot-major order); the key is the window of `window_size` words centred
  there (within the sentence; positions outside it are padding), the value
  is the centre word. A slot is real iff its centre word is.

Empty slots: by default the softmax covers the real slots only; with
`mask_empty_slots=False` the empty (padding) slots stay in it as zero keys
and values (logit 0, nothing read), as in the TensorFlow implementation the
bAbI defaults follow (siyuanzhao/key-value-memory-networks: a fixed zero nil
row and a softmax over all slots). They then act as an attention sink, and
the function depends on `M`.

Optional temporal encoding adds learned `T_K[age]`, `T_V[age]` (`[F]`, in
feature space) to keys and values, with MemN2N's age semantics (the most
recent sentence has age 0; windows take their sentence's age).
"""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from memax.ops import attention
from memax.types import Array, ModelOutput

_MODES = ('sentence', 'window')
_ENCODING = attention.ENCODINGS


def window_memories(story: Array, *, window_size: int
                    ) -> tuple[Array, Array]:
  """Window-level key-value memories of one story (Miller et al. sec. 3.2).

  Args:
    story: `[M, L]` int word ids, 0 = padding.
    window_size: odd window width `w`.

  Returns:
    `(keys [M*L, w], values [M*L])`: slot `i*L + c` holds the words
    `story[i, c - w//2 .. c + w//2]` (0 outside the sentence) and its centre
    word `story[i, c]`.
  """
  chex.assert_rank(story, 2)
  if window_size < 1 or window_size % 2 != 1:
    raise ValueError(
        f'config.model.window_size must be odd and >= 1, got {window_size}.')
  num_slots, length = story.shape
  half = window_size // 2
  padded = jnp.pad(story, ((0, 0), (half, half)))
  keys = jnp.stack([padded[:, c:c + window_size] for c in range(length)],
                   axis=1)  # [M, L, w]
  return keys.reshape(num_slots * length, window_size), story.reshape(-1)


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
  if value not in allowed:
    raise ValueError(
        f'config.model.{name}={value!r}; expected one of {list(allowed)}.')


class KVMemNN(nn.Module):
  """Key-Value Memory Network (Miller et al. 2016, sec. 3).

  Attributes:
    vocab_size: `V`, input and answer vocabulary (id 0 = padding).
    embedding_size: `E`, word embedding size.
    feature_size: `F`, size of the space where keys, values and the query
      meet (the output of `A`).
    num_hops: `K`.
    memory_mode: 'sentence' or 'window' (sec. 3.2).
    window_size: odd window width for `memory_mode='window'`.
    encoding: 'bow', 'position' (MemN2N's position encoding) or
      'position_centered' (the PE of the MemN2N authors' code, which the
      TensorFlow KV-MemNN code's "bow" reader applies).
    init_std: standard deviation of the Gaussian initialisation.
    temporal_encoding: add learned temporal vectors to keys and values.
    temporal_size: rows of the temporal tables; older memories share the
      last row.
  """

  # Random-number streams the model draws from (the trainer provides them).
  rng_streams = ()

  vocab_size: int
  embedding_size: int = 40
  feature_size: int = 50
  num_hops: int = 3
  memory_mode: str = 'sentence'
  window_size: int = 3
  encoding: str = 'bow'
  init_std: float = 0.1
  temporal_encoding: bool = False
  temporal_size: int = 50
  mask_empty_slots: bool = True

  @nn.compact
  def __call__(self, inputs: dict[str, Array], *, train: bool = False
               ) -> ModelOutput:
    """Answers the query from the story.

    Args:
      inputs: `{'story': [B, M, L] int, 'query': [B, L] int, ...}`.
      train: unused (no training-only noise).

    Returns:
      `ModelOutput(logits [B, V], {}, aux)`; `aux['attention']` is
      `[B, K, M]` per sentence (in window mode the sum over the sentence's
      windows) and, in window mode, `aux['window_attention']` is
      `[B, K, M*L]`.
    """
    del train
    _check('memory_mode', self.memory_mode, _MODES)
    _check('encoding', self.encoding, _ENCODING)
    story = jnp.asarray(inputs['story'])
    query = jnp.asarray(inputs['query'])
    chex.assert_rank([story, query], [3, 2])
    chex.assert_equal_shape_prefix([story, query], 1)
    num_slots, length = story.shape[1:]
    size, features = self.embedding_size, self.feature_size
    init = nn.initializers.normal(self.init_std)
    embedding = self.param('embedding', init, (self.vocab_size, size))
    projection = self.param('projection', init, (size, features))
    hop_maps = self.param('hop_maps', init,
                          (self.num_hops, features, features))
    output_embedding = self.param('output_embedding', init,
                                  (self.vocab_size, features))
    if self.temporal_encoding:
      key_temporal = self.param('key_temporal', init,
                                (self.temporal_size, features))
      value_temporal = self.param('value_temporal', init,
                                  (self.temporal_size, features))
    if self.memory_mode == 'window':
      window_memories(story[0], window_size=self.window_size)  # validates

    def feature(words):  # A Phi(words): [n] ids -> [F]
      weights = attention.encoding_weights(words, size, self.encoding)
      return attention.bag_of_words(
          embedding[words], words, weights=weights) @ projection

    def example(story, query):
      """One example: story `[M, L]`, query `[L]`."""
      sentence_mask = jnp.any(story != 0, axis=-1)  # [M]
      age = jnp.minimum(attention.memory_age(sentence_mask),
                        self.temporal_size - 1)
      if self.memory_mode == 'sentence':
        keys = values = jax.vmap(feature)(story)  # [M, F]
        mask = sentence_mask
      else:
        key_words, centre = window_memories(
            story, window_size=self.window_size)
        keys = jax.vmap(feature)(key_words)  # [M*L, F]
        values = embedding[centre] @ projection  # [M*L, F]
        mask = centre != 0
        age = jnp.repeat(age, length)
      if self.temporal_encoding:
        keys = keys + key_temporal[age]
        values = values + value_temporal[age]
      if not self.mask_empty_slots:
        keys = keys * mask[:, None]
        values = values * mask[:, None]
        mask = jnp.ones_like(mask)
      q = feature(query)
      weights = []
      for j in range(self.num_hops):
        p = attention.memory_attention(keys, q, mask)
        o = attention.memory_read(values, p)
        q = hop_maps[j] @ (q + o)
        weights.append(p)
      return output_embedding @ q, jnp.stack(weights)

    logits, weights = jax.vmap(example)(story, query)
    if self.memory_mode == 'sentence':
      return ModelOutput(logits, {}, {'attention': weights})
    per_sentence = weights.reshape(
        weights.shape[:2] + (num_slots, length)).sum(-1)
    return ModelOutput(logits, {}, {'attention': per_sentence,
                                    'window_attention': weights})
