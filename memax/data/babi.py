"""bAbI QA tasks v1.2 (Weston et al. 2015): reader, tokeniser and encoder.

Reads the official release from disk, either the archive
`tasks_1-20_v1-2.tar.gz` (members are read in one pass, nothing is extracted)
or an extracted folder, and turns it into NumPy arrays for the memory networks
(MemN2N, KV-MemNN, MemNN) or a word stream for recurrent models. Pure Python
and NumPy: nothing here touches a device or imports TensorFlow.

The file format, line by line: `ID text`. IDs count up from 1 inside a story;
an ID of 1 starts a new story. A statement line holds one sentence. A question
line is `ID question?<TAB>answer<TAB>supporting ids`, where the supporting ids
are the line IDs of the statements that answer it. A question sees every
statement of its story written before it (questions are not statements).
Every file of the release holds a known number of questions (`QUESTIONS`);
`read` rejects a file with another count, such as one cut short
(`strict_counts=False` warns instead).

Tokens: lowercase words; '.', '?' and ',' are split off and dropped. An answer
is one token even when it is a list ('n,s', 'apple,football').

Encoded arrays (see `encode`), with `n` examples, `M` memory slots, `L` words:
  story      int32 [n, M, L]  most recent M statements, oldest in slot 0,
                              left-aligned, all-zero empty slots.
  query      int32 [n, L]
  answer     int32 [n]
  supporting int32 [n, S]     slots of the supporting facts, -1 = none/dropped.
  task       int32 [n]        1..20
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol, TypeVar
import zlib

from absl import logging
import numpy as np

from memax.data import paths

# Task id -> file stem in the official release.
TASKS: Mapping[int, str] = {
    1: 'qa1_single-supporting-fact',
    2: 'qa2_two-supporting-facts',
    3: 'qa3_three-supporting-facts',
    4: 'qa4_two-arg-relations',
    5: 'qa5_three-arg-relations',
    6: 'qa6_yes-no-questions',
    7: 'qa7_counting',
    8: 'qa8_lists-sets',
    9: 'qa9_simple-negation',
    10: 'qa10_indefinite-knowledge',
    11: 'qa11_basic-coreference',
    12: 'qa12_conjunction',
    13: 'qa13_compound-coreference',
    14: 'qa14_time-reasoning',
    15: 'qa15_basic-deduction',
    16: 'qa16_basic-induction',
    17: 'qa17_positional-reasoning',
    18: 'qa18_size-reasoning',
    19: 'qa19_path-finding',
    20: 'qa20_agents-motivations',
}
ALL_TASKS: tuple[int, ...] = tuple(range(1, 21))
SETS: tuple[str, ...] = ('en', 'en-10k')
SPLITS: tuple[str, ...] = ('train', 'test')
RELEASE = 'tasks_1-20_v1-2'
# Questions in each file of the official v1.2 release, by (set, split).
QUESTIONS: Mapping[tuple[str, str], int] = {
    ('en', 'train'): 1000, ('en', 'test'): 1000,
    ('en-10k', 'train'): 10000, ('en-10k', 'test'): 1000,
}
ENV_VAR = 'MEMAX_BABI_DIR'

PAD = '<pad>'
EOS = '<eos>'
QUERY = '<query>'
SPECIALS: tuple[str, ...] = (PAD, EOS, QUERY)

_WORD = re.compile(r'[^\s.?,]+')
_LAYOUT_HELP = (
    f"pass the archive {RELEASE}.tar.gz, the folder {RELEASE}/, its parent, "
    "or its en/ or en-10k/ folder")


class BabiFormatError(ValueError):
  """A bAbI file or archive is malformed, truncated or corrupt."""


class BabiCountError(BabiFormatError):
  """A bAbI file does not hold its official number of questions.

  Raised by `read` and `load` with `strict_counts=True`; pass
  `strict_counts=False` to load such a file with a warning.
  """


@dataclasses.dataclass(frozen=True)
class Example:
  """One bAbI question with its story.

  Attributes:
    story: the statements of the story written before the question, in time
      order, each a tuple of tokens.
    query: the question's tokens.
    answer: the answer, one token (lists such as 'n,s' stay whole).
    supporting: indices into `story` of the supporting facts, in file order.
    task: task id, 1..20.
    source: '<set>/<file>:<line>' of the question line.
  """

  story: tuple[tuple[str, ...], ...]
  query: tuple[str, ...]
  answer: str
  supporting: tuple[int, ...]
  task: int
  source: str


class RawData(NamedTuple):
  """Parsed examples of one set, as read by `read`.

  Attributes:
    train: train examples, tasks in the order asked, file order inside a task.
    test: test examples, same order.
    missing: files that were absent and skipped (only with allow_missing).
  """

  train: list[Example]
  test: list[Example]
  missing: tuple[str, ...]


class TaskFile(NamedTuple):
  """One file of the release, as read by `read_files`.

  Attributes:
    task: task id, 1..20.
    split: 'train' or 'test'.
    source: '<set>/<file>', as in `Example.source`.
    display: where it was read (a path, or an archive and its member), for
      messages.
    text: the whole file.
    examples: its questions, parsed (`parse`), in file order.
  """

  task: int
  split: str
  source: str
  display: str
  text: str
  examples: list[Example]


@dataclasses.dataclass(frozen=True)
class BabiData:
  """Encoded bAbI data, as returned by `load`.

  Attributes:
    train: encoded train examples (see `encode`), validation held out.
    val: encoded validation examples (`val_fraction` of each task's train).
    test: encoded test examples.
    vocab: vocabulary shared by words and answers (train + val + test).
    sentence_size: L, words per sentence slot (story and query).
    memory_size: M, statement slots per story.
    supporting_size: S, supporting-fact columns.
    tasks: task ids asked for.
    set_name: 'en' (1k) or 'en-10k'.
    missing: files that were absent and skipped, e.g.
      'en-10k/qa3_three-supporting-facts_train.txt'.
    examples: the parsed examples behind train/val/test (same order).
  """

  train: dict[str, np.ndarray]
  val: dict[str, np.ndarray]
  test: dict[str, np.ndarray]
  vocab: Vocab
  sentence_size: int
  memory_size: int
  supporting_size: int
  tasks: tuple[int, ...]
  set_name: str
  missing: tuple[str, ...]
  examples: dict[str, list[Example]] = dataclasses.field(repr=False)


# ----------------------------------------------------------------------------
# Names and arguments.


def task_filename(task: int, split: str) -> str:
  """The official file name of a task's split, e.g. 'qa1_..._train.txt'."""
  task = check_task(task)
  if split not in SPLITS:
    raise ValueError(f'Unknown bAbI split {split!r}: expected one of {SPLITS}.')
  return f'{TASKS[task]}_{split}.txt'


def check_task(task: int) -> int:
  """Returns `task` as an int, or raises ValueError if it is not 1..20."""
  if isinstance(task, bool) or not isinstance(task, (int, np.integer)):
    raise ValueError(f'Unknown bAbI task id {task!r}: expected an int in '
                     '1..20.')
  if not 1 <= int(task) <= 20:
    raise ValueError(f'Unknown bAbI task id {task}: expected 1..20.')
  return int(task)


def check_tasks(tasks: int | Sequence[int]) -> tuple[int, ...]:
  """Normalises an int or a sequence of task ids to a tuple of unique ids."""
  if isinstance(tasks, str) or not isinstance(tasks, Iterable):
    tasks = (tasks,)  # check_task names a bad single id
  out = tuple(check_task(t) for t in tasks)
  if not out:
    raise ValueError('bAbI tasks is empty: give at least one id in 1..20.')
  if len(set(out)) != len(out):
    raise ValueError(f'bAbI tasks has duplicates: {out}.')
  return out


def check_set(set_name: str) -> str:
  if set_name not in SETS:
    raise ValueError(f'Unknown bAbI set {set_name!r}: expected one of {SETS} '
                     "('en' = 1k examples per task, 'en-10k' = 10k).")
  return set_name


def default_path() -> str:
  """Where the bAbI data is, when no path is given.

  The environment variable MEMAX_BABI_DIR if set, else `../shared/data/babi`
  relative to the working directory if it exists (a convenience for working
  inside the memax checkout; nothing relies on it).

  Returns:
    A path to pass to `load` or `read`.

  Raises:
    FileNotFoundError: neither exists.
  """
  return paths.default_path(
      ENV_VAR, 'babi', bad_env=f'point it at the bAbI data ({_LAYOUT_HELP}).',
      missing=(f'No bAbI data path given: pass path=... (or set {ENV_VAR}); '
               f'{_LAYOUT_HELP}. Get it from the official bAbI release v1.2 '
               f'({RELEASE}.tar.gz).'))


# ----------------------------------------------------------------------------
# Parsing.


def tokenize(text: str) -> tuple[str, ...]:
  """Lowercases and splits a sentence; '.', '?' and ',' are dropped."""
  return tuple(_WORD.findall(text.lower()))


def parse(text: str, *, task: int, filename: str) -> list[Example]:
  """Parses the text of one bAbI file.

  Args:
    text: the whole file.
    task: task id stored in each example.
    filename: names the file in `Example.source` and in error messages.

  Returns:
    One Example per question line, in file order.

  Raises:
    BabiFormatError: a malformed line, naming the file and line.
  """
  return _parse(text, task=check_task(task), display=filename,
                source=filename, cache={})


def _parse(text: str, *, task: int, display: str, source: str,
           cache: dict[str, tuple[str, ...]]) -> list[Example]:
  """`parse` with separate names for errors and sources and a token cache."""

  def fail(lineno: int, line: str, what: str) -> BabiFormatError:
    msg = f'{display}, line {lineno}: {what} (line: {line!r}).'
    if lineno == len(lines) and text and not text.endswith('\n'):
      msg += (' It is the last line and the file does not end with a '
              'newline: the file may be truncated.')
    return BabiFormatError(msg)

  def tokens(lineno: int, line: str, sentence: str) -> tuple[str, ...]:
    toks = cache.get(sentence)
    if toks is None:
      toks = cache[sentence] = tokenize(sentence)
      if not toks:
        raise fail(lineno, line, 'sentence has no words')
    return toks

  examples = []
  statements: list[tuple[str, ...]] = []
  statement_of: dict[int, int] = {}  # line ID -> statement index
  questions: set[int] = set()
  last_id = 0
  lines = text.split('\n')
  if lines and not lines[-1]:
    lines.pop()  # final newline
  for lineno, line in enumerate(lines, start=1):
    line = line.rstrip('\r')
    id_str, _, rest = line.partition(' ')
    if not (id_str.isascii() and id_str.isdigit()) or int(id_str) < 1:
      raise fail(lineno, line, 'bad line ID: a line must start with a '
                 'positive integer ID and a space')
    line_id = int(id_str)
    if line_id == 1:
      statements, statement_of, questions = [], {}, set()
    elif line_id <= last_id:
      raise fail(lineno, line, f'line ID {line_id} does not increase '
                 f'within the story (previous ID {last_id}; only ID 1 starts '
                 'a new story)')
    elif last_id == 0:
      raise fail(lineno, line, f'the first story starts at ID {line_id}, '
                 'not 1')
    last_id = line_id
    if '\t' not in rest:
      statement_of[line_id] = len(statements)
      statements.append(tokens(lineno, line, rest))
      continue
    fields = rest.split('\t')
    if len(fields) != 3:
      raise fail(lineno, line, f'a question line needs 3 tab-separated fields '
                 f'(question, answer, supporting IDs), found {len(fields)}')
    question, answer, support = fields
    answer = answer.strip().lower()
    if not answer or len(answer.split()) != 1:  # one token, no spaces
      raise fail(lineno, line, f'the answer must be one token, got '
                 f'{fields[1]!r}')
    supporting = []
    for s in support.split():
      if not (s.isascii() and s.isdigit()):
        raise fail(lineno, line, f'supporting ID {s!r} is not an integer')
      sid = int(s)
      if sid not in statement_of:
        kind = ('a question' if sid in questions else
                'not an earlier line of this story')
        raise fail(lineno, line, f'supporting ID {sid} is not a statement: '
                   f'it is {kind}')
      supporting.append(statement_of[sid])
    questions.add(line_id)
    examples.append(Example(
        story=tuple(statements), query=tokens(lineno, line, question),
        answer=answer, supporting=tuple(supporting), task=task,
        source=f'{source}:{lineno}'))
  return examples


# ----------------------------------------------------------------------------
# Locating and reading files.


class _Folder:
  """Reads `<set folder>/<name>` from disk."""

  def __init__(self, folder: str, set_name: str):
    self.folder = folder
    self.set_name = set_name

  def read(self, names: Sequence[str]) -> dict[str, tuple[str, bytes]]:
    out = {}
    for name in names:
      path = os.path.join(self.folder, name)
      if os.path.isfile(path):
        with open(path, 'rb') as f:
          out[name] = (path, f.read())
    return out

  def where(self) -> str:
    return f'folder {self.folder}'


class _Archive:
  """Reads `.../<set>/<name>` members of a tar archive in one pass."""

  def __init__(self, path: str, set_name: str):
    self.path = path
    self.set_name = set_name

  def read(self, names: Sequence[str]) -> dict[str, tuple[str, bytes]]:
    wanted = set(names)
    out = {}
    try:
      with tarfile.open(self.path, 'r:*') as tar:
        # Iterate to the end even after the last wanted member, so a
        # truncated archive is always reported.
        for member in tar:
          parts = member.name.split('/')
          if (member.isfile() and len(parts) >= 2 and
              parts[-2] == self.set_name and parts[-1] in wanted):
            f = tar.extractfile(member)
            out[parts[-1]] = (f'{self.path} (member {member.name})', f.read())
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
      raise BabiFormatError(
          f'bAbI archive {self.path} is truncated or corrupt '
          f'({type(e).__name__}: {e}); download {RELEASE}.tar.gz again.'
      ) from e
    return out

  def where(self) -> str:
    return f'archive {self.path} (folder {self.set_name}/)'


def _is_archive(path: str) -> bool:
  return path.endswith(('.tar.gz', '.tgz', '.tar')) or (
      os.path.isfile(path) and _safe_is_tarfile(path))


def _safe_is_tarfile(path: str) -> bool:
  try:
    return tarfile.is_tarfile(path)
  except (OSError, EOFError, zlib.error, tarfile.TarError):
    return False


def _has_task_files(folder: str) -> bool:
  try:
    return any(re.fullmatch(r'qa\d+_.*_(train|test)\.txt', f)
               for f in os.listdir(folder))
  except OSError:
    return False


def _locate(path: str | os.PathLike, set_name: str) -> _Folder | _Archive:
  """Finds the set folder (or the archive) for `set_name` under `path`."""
  path = os.fspath(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f'bAbI path {path} does not exist: '
                            f'{_LAYOUT_HELP}.')
  if os.path.isfile(path):
    if not _is_archive(path):
      raise BabiFormatError(f'bAbI path {path} is a file but not a tar '
                            f'archive: {_LAYOUT_HELP}.')
    return _Archive(path, set_name)
  # A folder: the release folder, its parent, or a set folder.
  for root in (path, os.path.join(path, RELEASE)):
    if os.path.isdir(os.path.join(root, set_name)):
      return _Folder(os.path.join(root, set_name), set_name)
  archive = os.path.join(path, f'{RELEASE}.tar.gz')
  if os.path.isfile(archive):
    return _Archive(archive, set_name)
  base = os.path.basename(os.path.normpath(path))
  if base in SETS and base != set_name:
    raise FileNotFoundError(
        f'bAbI path {path} is the {base!r} folder, but set_name='
        f'{set_name!r} was asked: pass its parent folder instead.')
  if base == set_name or _has_task_files(path):
    return _Folder(path, set_name)
  raise FileNotFoundError(
      f'No bAbI set {set_name!r} under {path}: expected {path}/{set_name}/, '
      f'{path}/{RELEASE}/{set_name}/ or {path}/{RELEASE}.tar.gz; '
      f'{_LAYOUT_HELP}.')


def _missing_message(name: str, where: str, set_name: str) -> str:
  msg = f'bAbI file {name} not found in {where}.'
  if set_name == 'en-10k' and name == task_filename(3, 'train'):
    msg += (' The shared copy of the data (shared/data/README.md) lacks '
            'en-10k task 3 train; use the official archive, or pass '
            'allow_missing=True to skip training on task 3.')
  return msg


def _count_problem(display: str, text: str, found: int, set_name: str,
                   split: str) -> str | None:
  """Why a parsed file is not a complete official file; None if it is."""
  expected = QUESTIONS[set_name, split]
  problems = []
  if found != expected:
    problems.append(f'has {found} questions, expected {expected} (every '
                    f'{split} file of the v1.2 {set_name!r} set has '
                    f'{expected})')
  if text and not text.endswith('\n'):
    problems.append('does not end with a newline (the v1.2 files do), so its '
                    'last line may be cut')
  if not problems:
    return None
  return (f'bAbI file {display} ' + ' and '.join(problems) +
          ': it is truncated or not the official file.')


def read(path: str | os.PathLike | None = None,
         tasks: int | Sequence[int] = ALL_TASKS,
         set_name: str = 'en', *, allow_missing: bool = False,
         strict_counts: bool = True) -> RawData:
  """Reads and parses the train and test files of some bAbI tasks.

  Each file must hold the official release's number of questions
  (`QUESTIONS`: 1,000 per file, 10,000 in an en-10k train file) and end with
  a newline, so that a file cut short is not trained on silently.

  Args:
    path: the archive `tasks_1-20_v1-2.tar.gz`, the folder `tasks_1-20_v1-2`,
      its parent, or its `en`/`en-10k` folder. None: `default_path()`.
    tasks: a task id or a sequence of ids in 1..20.
    set_name: 'en' (1k questions per task and split) or 'en-10k'.
    allow_missing: skip a missing train file and record it in `missing`
      instead of raising (test files must be present).
    strict_counts: raise BabiCountError for a file with another number of
      questions or no final newline; False logs a warning and loads it.

  Returns:
    RawData(train, test, missing).

  Raises:
    FileNotFoundError: the path or a task file is missing.
    BabiCountError: with `strict_counts`, a file that is not complete, naming
      it (its member inside an archive), the questions found and expected.
    BabiFormatError: a malformed file or a corrupt archive.
    ValueError: an unknown task id or set name.
  """
  files, missing = read_files(path, tasks, set_name,
                              allow_missing=allow_missing,
                              strict_counts=strict_counts)
  out: dict[str, list[Example]] = {s: [] for s in SPLITS}
  for f in files:
    out[f.split].extend(f.examples)
  return RawData(out['train'], out['test'], missing)


def read_files(path: str | os.PathLike | None = None,
               tasks: int | Sequence[int] = ALL_TASKS,
               set_name: str = 'en', *, allow_missing: bool = False,
               strict_counts: bool = True
               ) -> tuple[list[TaskFile], tuple[str, ...]]:
  """Reads and parses the train and test files of some bAbI tasks, by file.

  `read` without the grouping into splits: each file keeps its text, for
  readers that need the story structure (`memax.data.babi_words`). The
  checks are `read`'s.

  Args:
    path, tasks, set_name, allow_missing, strict_counts: see `read`.

  Returns:
    `(files, missing)`: one TaskFile per file found, in the order task by
    task, train before test; the files that were absent and skipped.
  """
  tasks = check_tasks(tasks)
  set_name = check_set(set_name)
  source = _locate(default_path() if path is None else path, set_name)
  names = [task_filename(t, s) for t in tasks for s in SPLITS]
  files = source.read(names)
  missing = []
  for t in tasks:
    for split in SPLITS:
      name = task_filename(t, split)
      if name in files:
        continue
      if allow_missing and split == 'train':
        missing.append(f'{set_name}/{name}')
      else:
        raise FileNotFoundError(_missing_message(name, source.where(),
                                                 set_name))
  cache: dict[str, tuple[str, ...]] = {}
  out: list[TaskFile] = []
  problems = []
  for t in tasks:
    for split in SPLITS:
      name = task_filename(t, split)
      if name not in files:
        continue
      display, data = files[name]
      try:
        text = data.decode('utf-8')
      except UnicodeDecodeError as e:
        raise BabiFormatError(f'{display} is not UTF-8 text ({e}).') from e
      examples = _parse(text, task=t, display=display,
                        source=f'{set_name}/{name}', cache=cache)
      problem = _count_problem(display, text, len(examples), set_name, split)
      if problem:
        problems.append(problem)
      out.append(TaskFile(task=t, split=split, source=f'{set_name}/{name}',
                          display=display, text=text, examples=examples))
  if problems and strict_counts:
    raise BabiCountError(' '.join(problems) + ' To load anyway, pass '
                         'strict_counts=False (a warning is logged instead).')
  for problem in problems:
    logging.warning('%s Loading it anyway (strict_counts=False).', problem)
  return out, tuple(missing)


# ----------------------------------------------------------------------------
# Validation split.


class _OfTask(Protocol):
  task: int


_T = TypeVar('_T', bound=_OfTask)


def train_val_split(examples: Sequence[_T], val_fraction: float = 0.1,
                    seed: int = 0) -> tuple[list[_T], list[_T]]:
  """Holds out `val_fraction` of each task's examples for validation.

  `examples`: anything with a `task` field, e.g. `Example`s or whole
  stories (`babi_words.Story`).

  The held-out examples of task t are drawn by a NumPy permutation seeded with
  (seed, t), so a task's split does not depend on which other tasks are
  loaded. Both outputs keep the input order.

  Args:
    examples: train examples of one or more tasks.
    val_fraction: in [0, 1); round(val_fraction * n_t) examples of each task.
    seed: the split seed.

  Returns:
    (train, val) lists whose union is `examples`.
  """
  if not 0.0 <= val_fraction < 1.0:
    raise ValueError(f'val_fraction must be in [0, 1), got {val_fraction}.')
  by_task: dict[int, list[int]] = {}
  for i, ex in enumerate(examples):
    by_task.setdefault(ex.task, []).append(i)
  is_val = np.zeros(len(examples), dtype=bool)
  for task, idx in by_task.items():
    n_val = round(val_fraction * len(idx))
    perm = np.random.default_rng([seed, task]).permutation(len(idx))
    is_val[np.asarray(idx)[perm[:n_val]]] = True
  train = [ex for ex, v in zip(examples, is_val) if not v]
  val = [ex for ex, v in zip(examples, is_val) if v]
  return train, val


# ----------------------------------------------------------------------------
# Vocabulary.


def _unique_sentences(examples: Iterable[Example]) -> list[tuple[str, ...]]:
  """Story sentences and queries, deduplicated by object identity."""
  seen: dict[int, tuple[str, ...]] = {}
  for ex in examples:
    seen.setdefault(id(ex.query), ex.query)
    for s in ex.story:
      seen.setdefault(id(s), s)
  return list(seen.values())


class SymbolTable:
  """An immutable symbol <-> id map: id i is `words[i]`.

  The base of the bAbI vocabularies (`Vocab` here, `babi_words.WordVocab`
  for the word-level encoding); a subclass sets how it is named in errors
  and in its JSON, the id of padding, and `_check` for its own rules.
  """

  _NAME = 'symbol table'  # in error messages.
  _UNIT = 'symbols'
  _FORMAT = ''            # the 'format' of `to_json`.
  PAD_ID = 0              # the id `decode` reads as padding.

  def __init__(self, words: Sequence[str]):
    words = tuple(words)
    if len(set(words)) != len(words):
      raise ValueError(f'A {type(self).__name__} has duplicate words.')
    self._check(words)
    self._words = words
    self._ids = {w: i for i, w in enumerate(words)}

  def _check(self, words: tuple[str, ...]) -> None:
    """Raises ValueError when `words` break the subclass's rules."""
    del words

  @property
  def words(self) -> tuple[str, ...]:
    return self._words

  def __len__(self) -> int:
    return len(self._words)

  def __contains__(self, word: str) -> bool:
    return word in self._ids

  def __eq__(self, other) -> bool:
    return type(other) is type(self) and self._words == other._words

  def __hash__(self) -> int:
    return hash(self._words)

  def __repr__(self) -> str:
    return f'{type(self).__name__}({len(self)} {self._UNIT})'

  def index(self, word: str) -> int:
    """The id of `word`; ValueError naming it if it is not in the table."""
    try:
      return self._ids[word]
    except KeyError:
      raise ValueError(f'Word {word!r} is not in the {self._NAME} '
                       f'({len(self)} {self._UNIT}).') from None

  def encode_words(self, words: Iterable[str]) -> np.ndarray:
    """Ids of `words`, int32 [len(words)]."""
    return np.asarray([self.index(w) for w in words], dtype=np.int32)

  def decode(self, ids: Iterable[int], *, skip_pad: bool = True) -> list[str]:
    """Words of `ids` (any int array, flattened); `PAD_ID` is dropped, or
    read as '<pad>' with `skip_pad=False`."""
    out = []
    for i in np.asarray(ids, dtype=np.int64).ravel():
      if i == self.PAD_ID:
        if not skip_pad:
          out.append(PAD)
      else:
        out.append(self._words[i])
    return out

  def to_json(self) -> str:
    return json.dumps({'format': self._FORMAT, 'words': self._words})

  @classmethod
  def from_json(cls, text: str):
    try:
      words = json.loads(text)['words']
    except (ValueError, KeyError, TypeError) as e:
      raise ValueError(f'Not a memax {cls._NAME} JSON: {e}') from e
    return cls(words)


class Vocab(SymbolTable):
  """Word <-> id map shared by story words, query words and answers.

  Id 0 is '<pad>', then the specials '<eos>' and '<query>' (used by
  `token_stream`), then the words and answers in sorted order.
  """

  _NAME = 'bAbI vocabulary'
  _UNIT = 'words'
  _FORMAT = 'memax.babi.Vocab/1'
  PAD_ID = 0

  def _check(self, words: tuple[str, ...]) -> None:
    if words[:len(SPECIALS)] != SPECIALS:
      raise ValueError(f'A Vocab starts with {SPECIALS}, got '
                       f'{words[:len(SPECIALS)]}.')

  @classmethod
  def build(cls, *example_lists: Iterable[Example]) -> Vocab:
    """A vocabulary of every word and answer in the given examples."""
    words = set()
    examples = [ex for exs in example_lists for ex in exs]
    for s in _unique_sentences(examples):
      words.update(s)
    words.update(ex.answer for ex in examples)
    words.difference_update(SPECIALS)
    return cls(SPECIALS + tuple(sorted(words)))


# ----------------------------------------------------------------------------
# Encoding.


def max_sentence_length(*example_lists: Iterable[Example]) -> int:
  """The longest story sentence or query, in words (0 if none)."""
  examples = [ex for exs in example_lists for ex in exs]
  return max((len(s) for s in _unique_sentences(examples)), default=0)


def _sentence_table(sentences: Sequence[tuple[str, ...]], vocab: Vocab,
                    width: int) -> np.ndarray:
  """int32 [U + 1, width]: the ids of each sentence, row U all padding."""
  table = np.zeros((len(sentences) + 1, width), dtype=np.int32)
  for r, s in enumerate(sentences):
    table[r, :len(s)] = vocab.encode_words(s)
  return table


def _check_size(name: str, value: int | None, needed: int) -> int:
  if value is None:
    return max(needed, 1)
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise ValueError(f'{name} must be an int, got {value!r}.')
  if value < needed:
    raise ValueError(f'{name}={value} is too small: the data needs {needed}; '
                     f'pass {name} >= {needed} or None.')
  return int(value)


def encode(examples: Sequence[Example], vocab: Vocab, *,
           memory_size: int = 50, sentence_size: int | None = None,
           supporting_size: int = 3) -> dict[str, np.ndarray]:
  """Encodes examples into fixed-size int32 arrays.

  Only the `memory_size` most recent statements of a story are kept; the
  supporting indices are shifted to those slots, and a supporting fact that
  fell out of memory becomes -1. A question with more than
  `supporting_size` supporting facts (tasks 7 and 8 have up to 8) keeps the
  first ones in file order.

  Args:
    examples: n parsed examples.
    vocab: a vocabulary holding all their words and answers.
    memory_size: M, statement slots (>= 1).
    sentence_size: L, words per sentence, used for story sentences and the
      query alike; None = the longest kept sentence or query.
    supporting_size: S, supporting-fact columns (>= 1).

  Returns:
    {'story': [n, M, L], 'query': [n, L], 'answer': [n], 'supporting': [n, S],
    'task': [n]}, all int32; padding is 0.
  """
  memory_size = _check_size('memory_size', memory_size, 1)
  supporting_size = _check_size('supporting_size', supporting_size, 1)
  n = len(examples)
  rows: dict[int, int] = {}
  sentences: list[tuple[str, ...]] = []

  def row(s: tuple[str, ...]) -> int:
    r = rows.get(id(s))
    if r is None:
      r = rows[id(s)] = len(sentences)
      sentences.append(s)
    return r

  counts = np.zeros(n, dtype=np.int64)
  flat_rows: list[int] = []
  query_rows = np.zeros(n, dtype=np.int64)
  supporting = np.full((n, supporting_size), -1, dtype=np.int32)
  for i, ex in enumerate(examples):
    kept = ex.story[-memory_size:]
    counts[i] = len(kept)
    flat_rows.extend(row(s) for s in kept)
    query_rows[i] = row(ex.query)
    offset = len(ex.story) - len(kept)
    for j, s in enumerate(ex.supporting[:supporting_size]):
      supporting[i, j] = s - offset if s >= offset else -1

  width = _check_size('sentence_size', sentence_size,
                      max((len(s) for s in sentences), default=1))
  table = _sentence_table(sentences, vocab, width)
  story = np.zeros((n, memory_size, width), dtype=np.int32)
  example_of = np.repeat(np.arange(n), counts)
  slot = np.arange(len(flat_rows)) - np.repeat(np.cumsum(counts) - counts,
                                                counts)
  story[example_of, slot] = table[np.asarray(flat_rows, dtype=np.int64)]
  return {
      'story': story,
      'query': table[query_rows],
      'answer': vocab.encode_words([ex.answer for ex in examples]),
      'supporting': supporting,
      'task': np.asarray([ex.task for ex in examples], dtype=np.int32),
  }


def token_stream(examples: Sequence[Example], vocab: Vocab, *,
                 memory_size: int | None = None,
                 max_length: int | None = None) -> dict[str, np.ndarray]:
  """Encodes examples as one word stream each, for recurrent models.

  Stream: the words of each statement followed by '<eos>', then '<query>'
  and the query words: `s1 <eos> s2 <eos> ... <query> q1 ... qk`, 0-padded.

  Args:
    examples: n parsed examples.
    vocab: a vocabulary holding all their words and answers.
    memory_size: keep only the most recent statements (None = all).
    max_length: T; None = the longest stream.

  Returns:
    {'tokens': [n, T], 'length': [n], 'answer': [n], 'task': [n]}, int32.
  """
  if memory_size is not None:
    memory_size = _check_size('memory_size', memory_size, 1)
  eos, query_id = vocab.index(EOS), vocab.index(QUERY)
  cache: dict[int, list[int]] = {}

  def ids(s: tuple[str, ...], end: list[int]) -> list[int]:
    key = id(s)
    if key not in cache:
      cache[key] = vocab.encode_words(s).tolist()
    return cache[key] + end if end else cache[key]

  streams = []
  for ex in examples:
    kept = ex.story if memory_size is None else ex.story[-memory_size:]
    stream = []
    for s in kept:
      stream.extend(ids(s, [eos]))
    stream.append(query_id)
    stream.extend(ids(ex.query, []))
    streams.append(stream)
  lengths = np.asarray([len(s) for s in streams], dtype=np.int32)
  width = _check_size('max_length', max_length, int(lengths.max(initial=1)))
  tokens = np.zeros((len(streams), width), dtype=np.int32)
  if streams:
    row = np.repeat(np.arange(len(streams)), lengths)
    col = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths,
                                               lengths)
    tokens[row, col] = np.fromiter((t for s in streams for t in s),
                                   dtype=np.int32, count=int(lengths.sum()))
  return {
      'tokens': tokens,
      'length': lengths,
      'answer': vocab.encode_words([ex.answer for ex in examples]),
      'task': np.asarray([ex.task for ex in examples], dtype=np.int32),
  }


# ----------------------------------------------------------------------------
# Everything at once.


def load(path: str | os.PathLike | None = None,
         tasks: int | Sequence[int] = ALL_TASKS, set_name: str = 'en', *,
         val_fraction: float = 0.1, seed: int = 0, memory_size: int = 50,
         sentence_size: int | None = None, supporting_size: int = 3,
         allow_missing: bool = False, strict_counts: bool = True) -> BabiData:
  """Reads, splits, builds the vocabulary and encodes bAbI tasks.

  Args:
    path: see `read`; None = `default_path()`.
    tasks: a task id or ids in 1..20 (several = the joint setting).
    set_name: 'en' (1k) or 'en-10k'.
    val_fraction: fraction of each task's train examples held out.
    seed: seed of the validation split.
    memory_size: M statement slots (older statements are dropped).
    sentence_size: L; None = the longest sentence or query in any split.
    supporting_size: S supporting-fact columns.
    allow_missing: skip a task whose train file is absent (recorded in
      `missing`; its test set is still loaded) instead of raising.
    strict_counts: raise BabiCountError for a file without the official
      number of questions (see `read`); False only logs a warning.

  Returns:
    A BabiData.
  """
  tasks = check_tasks(tasks)
  raw = read(path, tasks, set_name, allow_missing=allow_missing,
             strict_counts=strict_counts)
  train, val = train_val_split(raw.train, val_fraction, seed)
  vocab = Vocab.build(train, val, raw.test)
  width = _check_size('sentence_size', sentence_size,
                      max_sentence_length(train, val, raw.test))
  kw = {'memory_size': memory_size, 'sentence_size': width,
        'supporting_size': supporting_size}
  return BabiData(
      train=encode(train, vocab, **kw), val=encode(val, vocab, **kw),
      test=encode(raw.test, vocab, **kw), vocab=vocab, sentence_size=width,
      memory_size=memory_size, supporting_size=supporting_size, tasks=tasks,
      set_name=set_name, missing=raw.missing,
      examples={'train': train, 'val': val, 'test': raw.test})
