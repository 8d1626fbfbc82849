"""bAbI word by word, one sequence per story: the DNC paper's encoding.

Graves et al. 2016 (Nature 538, Methods, "bAbI") feed a recurrent model one
word per step. This module turns the bAbI v1.2 files (read and checked by
`memax.data.babi.read_files`) into those sequences. Pure Python and NumPy:
nothing here touches a device.

One sequence per story (the lines from ID 1 up to the next ID 1; a story
holds one or more questions). Line IDs and supporting-fact IDs are dropped,
text is lower-cased, and '.' and '?' are tokens of their own. After each
question come as many '-' steps as its answer has words: an answer that is a
list ('apple,football' in task 8, 'n,e' in task 19) is split at its commas.
The target at the k-th '-' step of a question is its k-th answer word; no
other step has a target. For example, the first story of qa1 train begins

  mary moved to the bathroom . john went to the hallway . where is mary ? -

with target 'bathroom' at the '-'.

Vocabulary (`WordVocab`): every token of every story and every answer word
of the loaded tasks and splits, sorted, so '-', '.' and '?' come first. On
the real files it holds 159 symbols for all 20 tasks, both for 'en' and for
'en-10k' (without the missing qa3 train file too): 156 words plus '-', '.'
and '?', the paper's count. Padding is not a symbol: padded steps hold
`PAD_ID = -1`, whose one-hot vector (`jax.nn.one_hot`) is all zeros, so the
model's input size is the vocabulary size, 159.

Encoded split (`encode`), `n` stories holding `S` steps in all, ragged and
flat (stories vary from 24 to 1,393 steps; padding all of them to the longest
would store 10 to 20 times more):

  tokens     int32 [S]  input ids, story after story.
  answers    int32 [S]  the target id at answer ('-') steps, -1 elsewhere.
  offset     int32 [n]  where each story starts in `tokens`.
  length     int32 [n]  steps of each story.
  questions  int32 [n]  questions in each story.
  task       int32 [n]  bAbI task id, 1..20.

`dense` pads chosen stories into `[rows, T]` arrays.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Sequence

import numpy as np

from memax.data import babi

ANSWER = '-'  # the input at each answer step.
PAD_ID = -1   # the input id of padded steps (and the answer id of non-answer
              # steps); not a vocabulary entry.

_TOKEN = re.compile(r'[^\s.?,]+|[.?]')


@dataclasses.dataclass(frozen=True)
class Story:
  """One bAbI story as a word sequence.

  Attributes:
    tokens: the sequence, one token per step; `answers[q]` has as many '-'
      steps after question `q` as it has words.
    answers: the answer words of each question, in order.
    task: task id, 1..20.
    source: '<set>/<file>:<line>' of the story's first line.
  """

  tokens: tuple[str, ...]
  answers: tuple[tuple[str, ...], ...]
  task: int
  source: str


def tokenize(text: str) -> tuple[str, ...]:
  """Lower-cased words, with '.' and '?' as tokens of their own."""
  return tuple(_TOKEN.findall(text.lower()))


def answer_words(answer: str) -> tuple[str, ...]:
  """The words of an answer: 'n,e' -> ('n', 'e'), 'office' -> ('office',)."""
  return tuple(answer.strip().lower().split(','))


def parse_stories(file: babi.TaskFile) -> list[Story]:
  """The stories of one file read by `babi.read_files`, in file order.

  The file's format has been checked by `babi.read_files`; its parsed
  questions (`file.examples`) must match the questions found here.

  Raises:
    BabiFormatError: an answer with an empty word ('a,,b'), or questions
      that disagree with `file.examples`.
  """
  stories: list[Story] = []
  tokens: list[str] = []
  answers: list[tuple[str, ...]] = []
  first = 0
  cache: dict[str, tuple[str, ...]] = {}

  def words(sentence: str) -> tuple[str, ...]:
    toks = cache.get(sentence)
    if toks is None:
      toks = cache[sentence] = tokenize(sentence)
    return toks

  def close() -> None:
    if tokens:
      stories.append(Story(tuple(tokens), tuple(answers), file.task,
                           f'{file.source}:{first}'))

  lines = file.text.split('\n')
  for lineno, line in enumerate(lines, start=1):
    line = line.rstrip('\r')
    if not line:
      continue
    id_str, _, rest = line.partition(' ')
    if int(id_str) == 1:
      close()
      tokens, answers, first = [], [], lineno
    if '\t' not in rest:
      tokens.extend(words(rest))
      continue
    question, raw_answer, _ = rest.split('\t')
    answer = answer_words(raw_answer)
    if not all(answer):
      raise babi.BabiFormatError(
          f'{file.display}, line {lineno}: an answer word is empty (answer '
          f'{raw_answer!r}).')
    tokens.extend(words(question))
    tokens.extend([ANSWER] * len(answer))
    answers.append(answer)
  close()
  found = [a for s in stories for a in s.answers]
  want = [answer_words(ex.answer) for ex in file.examples]
  if found != want:
    raise babi.BabiFormatError(
        f'{file.display}: {len(found)} questions found in its stories, but '
        f'the parser found {len(want)} (or other answers).')
  return stories


# ----------------------------------------------------------------------------
# Vocabulary (the validation split is `babi.train_val_split`, by story).


class WordVocab(babi.SymbolTable):
  """Symbol <-> id map of the word-level encoding; id i is `words[i]`.

  No padding or other special symbol: padded steps are `PAD_ID` (-1).
  """

  _NAME = 'bAbI word vocabulary'
  _UNIT = 'symbols'
  _FORMAT = 'memax.babi_words.WordVocab/1'
  PAD_ID = PAD_ID

  def _check(self, words: tuple[str, ...]) -> None:
    if ANSWER not in words:
      raise ValueError(f'A WordVocab needs the answer symbol {ANSWER!r}.')

  @classmethod
  def build(cls, *story_lists: Iterable[Story]) -> WordVocab:
    """Every token and answer word of the given stories, sorted."""
    words = {ANSWER}
    for stories in story_lists:
      for story in stories:
        words.update(story.tokens)
        for answer in story.answers:
          words.update(answer)
    return cls(sorted(words))

  @property
  def answer_id(self) -> int:
    """The id of the answer step symbol '-'."""
    return self.index(ANSWER)


# ----------------------------------------------------------------------------
# Encoding.


def encode(stories: Sequence[Story], vocab: WordVocab) -> dict[str, np.ndarray]:
  """Encodes stories into flat ragged arrays (see the module docstring).

  Args:
    stories: n stories.
    vocab: a vocabulary holding all their tokens and answer words.

  Returns:
    {'tokens': [S], 'answers': [S], 'offset': [n], 'length': [n],
    'questions': [n], 'task': [n]}, all int32.
  """
  ids = {w: i for i, w in enumerate(vocab.words)}
  length = np.asarray([len(s.tokens) for s in stories], dtype=np.int64)
  total = int(length.sum())
  try:
    tokens = np.fromiter((ids[w] for s in stories for w in s.tokens),
                         dtype=np.int32, count=total)
    answer_ids = np.fromiter(
        (ids[w] for s in stories for a in s.answers for w in a),
        dtype=np.int32)
  except KeyError as e:
    raise ValueError(f'Word {e.args[0]!r} is not in the bAbI word '
                     f'vocabulary ({len(vocab)} symbols).') from None
  answers = np.full(total, PAD_ID, dtype=np.int32)
  is_answer = tokens == vocab.answer_id
  if int(is_answer.sum()) != len(answer_ids):
    raise ValueError('The stories have a different number of answer steps '
                     f"({int(is_answer.sum())}) and answer words "
                     f'({len(answer_ids)}).')
  answers[is_answer] = answer_ids
  return {
      'tokens': tokens,
      'answers': answers,
      'offset': (np.cumsum(length) - length).astype(np.int32),
      'length': length.astype(np.int32),
      'questions': np.asarray([len(s.answers) for s in stories],
                              dtype=np.int32),
      'task': np.asarray([s.task for s in stories], dtype=np.int32),
  }


def dense(encoded: dict[str, np.ndarray], rows: Sequence[int] | None = None,
          max_length: int | None = None) -> dict[str, np.ndarray]:
  """Stories `rows` of an encoded split, padded to `[len(rows), T]`.

  Args:
    encoded: from `encode`.
    rows: story indices; None = all.
    max_length: T; None = the longest of `rows`.

  Returns:
    {'tokens': int32 [r, T] (`PAD_ID` past the end), 'answers': int32
    [r, T] (-1 off the answer steps), 'length': [r], 'task': [r]}.
  """
  rows = (np.arange(len(encoded['length'])) if rows is None
          else np.asarray(rows, dtype=np.int64))
  length = encoded['length'][rows]
  width = int(length.max(initial=1)) if max_length is None else max_length
  if width < int(length.max(initial=0)):
    raise ValueError(f'max_length={width} is shorter than the longest story '
                     f'({int(length.max())} steps).')
  t = np.arange(width)
  valid = t[None] < length[:, None]
  pos = np.where(valid, encoded['offset'][rows][:, None] + t[None], 0)
  total = len(encoded['tokens'])
  pos = np.minimum(pos, max(total - 1, 0))
  take = lambda a: np.where(valid, a[pos] if total else PAD_ID, PAD_ID)
  return {'tokens': take(encoded['tokens']).astype(np.int32),
          'answers': take(encoded['answers']).astype(np.int32),
          'length': length.astype(np.int32),
          'task': encoded['task'][rows].astype(np.int32)}


# ----------------------------------------------------------------------------
# Everything at once.


@dataclasses.dataclass(frozen=True)
class WordData:
  """bAbI stories encoded word by word, as returned by `load`.

  Attributes:
    train: encoded train stories (`encode`), validation held out.
    val: encoded validation stories (`val_fraction` of each task's).
    test: encoded test stories.
    vocab: the vocabulary of all three splits.
    tasks: task ids asked for.
    set_name: 'en' (1k) or 'en-10k'.
    missing: train files that were absent and skipped (e.g.
      'en-10k/qa3_three-supporting-facts_train.txt').
    stories: the parsed stories behind train/val/test (same order).
  """

  train: dict[str, np.ndarray]
  val: dict[str, np.ndarray]
  test: dict[str, np.ndarray]
  vocab: WordVocab
  tasks: tuple[int, ...]
  set_name: str
  missing: tuple[str, ...]
  stories: dict[str, list[Story]] = dataclasses.field(repr=False)

  def splits(self) -> dict[str, dict[str, np.ndarray]]:
    return {'train': self.train, 'val': self.val, 'test': self.test}

  @property
  def max_length(self) -> int:
    """The longest story of any split, in steps."""
    return max(int(s['length'].max(initial=1)) for s in self.splits().values())

  @property
  def max_questions(self) -> int:
    """The most questions in one story, in any split."""
    return max(int(s['questions'].max(initial=1))
               for s in self.splits().values())


def load(path: str | os.PathLike | None = None,
         tasks: int | Sequence[int] = babi.ALL_TASKS, set_name: str = 'en', *,
         val_fraction: float = 0.1, seed: int = 0,
         allow_missing: bool = False, strict_counts: bool = True,
         max_train_length: int = 0) -> WordData:
  """Reads, splits, builds the vocabulary and encodes bAbI stories.

  Args:
    path: see `babi.read`; None = `babi.default_path()`.
    tasks: a task id or ids in 1..20 (several = the joint setting).
    set_name: 'en' (1k) or 'en-10k'.
    val_fraction: fraction of each task's train stories held out.
    seed: seed of the validation split.
    allow_missing: skip a task whose train file is absent (recorded in
      `missing`; its test stories are still loaded) instead of raising.
    strict_counts: see `babi.read`.
    max_train_length: > 0: drop the training stories longer than this many
      steps (DAM's recipe: 800), after the validation split and the
      vocabulary, so both are those of all stories.

  Returns:
    A WordData.
  """
  files, missing = babi.read_files(path, tasks, set_name,
                                   allow_missing=allow_missing,
                                   strict_counts=strict_counts)
  read: dict[str, list[Story]] = {s: [] for s in babi.SPLITS}
  for f in files:
    read[f.split].extend(parse_stories(f))
  train, val = babi.train_val_split(read['train'], val_fraction, seed)
  vocab = WordVocab.build(train, val, read['test'])
  if max_train_length > 0:
    train = [s for s in train if len(s.tokens) <= max_train_length]
  return WordData(
      train=encode(train, vocab), val=encode(val, vocab),
      test=encode(read['test'], vocab), vocab=vocab,
      tasks=babi.check_tasks(tasks), set_name=set_name, missing=missing,
      stories={'train': train, 'val': val, 'test': read['test']})
