"""Tests for `memax.data.babi` and the tfds builder, on the real bAbI files."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

from memax.data import babi

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
_DATA = os.path.join(_REPO, '..', 'shared', 'data', 'babi')
_RELEASE = os.path.join(_DATA, 'tasks_1-20_v1-2')
_ARCHIVE = os.path.join(_DATA, 'tasks_1-20_v1-2.tar.gz')
_EN = os.path.join(_RELEASE, 'en')

# (task, en train lines, en test lines, en-10k train lines) from
# shared/data/README.md.
_LINE_COUNTS = ((1, 3000, 3000, 30000), (3, 15796, 15710, None),
                (17, 1250, 1250, 12500), (18, 2230, 2210, 22445))

# The first six questions of qa1 train, written out by reading the file.
_MARY = ('mary', 'moved', 'to', 'the', 'bathroom')
_STORY1 = (_MARY, ('john', 'went', 'to', 'the', 'hallway'),
           ('daniel', 'went', 'back', 'to', 'the', 'hallway'),
           ('sandra', 'moved', 'to', 'the', 'garden'),
           ('john', 'moved', 'to', 'the', 'office'),
           ('sandra', 'journeyed', 'to', 'the', 'bathroom'),
           ('mary', 'moved', 'to', 'the', 'hallway'),
           ('daniel', 'travelled', 'to', 'the', 'office'),
           ('john', 'went', 'back', 'to', 'the', 'garden'),
           ('john', 'moved', 'to', 'the', 'bedroom'))
_QA1_SOURCE = 'en/qa1_single-supporting-fact_train.txt'
_QA1_FIRST = (
    babi.Example(_STORY1[:2], ('where', 'is', 'mary'), 'bathroom', (0,), 1,
                 _QA1_SOURCE + ':3'),
    babi.Example(_STORY1[:4], ('where', 'is', 'daniel'), 'hallway', (2,), 1,
                 _QA1_SOURCE + ':6'),
    babi.Example(_STORY1[:6], ('where', 'is', 'daniel'), 'hallway', (2,), 1,
                 _QA1_SOURCE + ':9'),
    babi.Example(_STORY1[:8], ('where', 'is', 'daniel'), 'office', (7,), 1,
                 _QA1_SOURCE + ':12'),
    babi.Example(_STORY1, ('where', 'is', 'sandra'), 'bathroom', (5,), 1,
                 _QA1_SOURCE + ':15'),
    babi.Example((('sandra', 'travelled', 'to', 'the', 'office'),
                  ('sandra', 'went', 'to', 'the', 'bathroom')),
                 ('where', 'is', 'sandra'), 'bathroom', (1,), 1,
                 _QA1_SOURCE + ':18'),
)


def _line_count(path):
  with open(path, 'rb') as f:
    return f.read().count(b'\n')


def _line_of(example):
  return int(example.source.rsplit(':', 1)[1])


class ParseTest(parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.en = babi.read(_RELEASE, babi.ALL_TASKS, 'en')

  def test_every_1k_file_has_1000_questions(self):
    for split, examples in (('train', self.en.train),
                            ('test', self.en.test)):
      tasks = np.asarray([ex.task for ex in examples])
      counts = np.bincount(tasks, minlength=21)[1:]
      np.testing.assert_array_equal(counts, 1000, err_msg=split)
    self.assertEqual(self.en.missing, ())

  @parameterized.parameters(1, 17)
  def test_10k_train_has_10000_questions(self, task):
    raw = babi.read(_RELEASE, task, 'en-10k')
    self.assertLen(raw.train, 10000)
    self.assertLen(raw.test, 1000)
    lines = {t: n for t, _, _, n in _LINE_COUNTS}[task]
    self.assertEqual(_line_of(raw.train[-1]), lines)

  def test_line_counts_match_readme_and_parser_reads_to_the_end(self):
    # Every bAbI file ends with a question, so the last question's line is
    # the file's last line.
    for task, train_lines, test_lines, train10k_lines in _LINE_COUNTS:
      for split, lines in (('train', train_lines), ('test', test_lines)):
        name = babi.task_filename(task, split)
        self.assertEqual(_line_count(os.path.join(_EN, name)), lines)
        last = [ex for ex in getattr(self.en, split) if ex.task == task][-1]
        self.assertEqual(last.source, f'en/{name}:{lines}')
      if train10k_lines is not None:
        path = os.path.join(_RELEASE, 'en-10k',
                            babi.task_filename(task, 'train'))
        self.assertEqual(_line_count(path), train10k_lines)

  def test_qa1_first_questions_by_hand(self):
    got = [ex for ex in self.en.train if ex.task == 1][:len(_QA1_FIRST)]
    self.assertEqual(tuple(got), _QA1_FIRST)

  def test_qa2_two_supporting_facts_by_hand(self):
    ex = next(ex for ex in self.en.train if ex.task == 2)
    # 7 Where is the football? \tgarden\t3 6
    self.assertLen(ex.story, 6)
    self.assertEqual(ex.story[2], ('mary', 'got', 'the', 'football',
                                   'there'))
    self.assertEqual(ex.query, ('where', 'is', 'the', 'football'))
    self.assertEqual((ex.answer, ex.supporting), ('garden', (2, 5)))

  def test_list_answer_is_one_token(self):
    ex = next(ex for ex in self.en.test if ex.task == 19)
    # 6 How do you go from the bathroom to the hallway?\ts,s\t4 2
    self.assertEqual(ex.query, ('how', 'do', 'you', 'go', 'from', 'the',
                                'bathroom', 'to', 'the', 'hallway'))
    self.assertEqual((ex.answer, ex.supporting), ('s,s', (3, 1)))

  def test_tokens_are_lowercase_words_without_punctuation(self):
    words = set()
    for ex in self.en.train[::50]:
      words.update(ex.query)
      for s in ex.story:
        words.update(s)
    self.assertNotEmpty(words)
    for w in words:
      self.assertRegex(w, r'^[a-z]+$')

  def test_task1_supporting_fact_holds_the_answer(self):
    for ex in self.en.train + self.en.test:
      if ex.task == 1:
        self.assertLen(ex.supporting, 1)
        self.assertIn(ex.answer, ex.story[ex.supporting[0]])

  def test_supporting_facts_are_earlier_statements(self):
    for ex in self.en.train:
      for s in ex.supporting:
        self.assertBetween(s, 0, len(ex.story) - 1)

  def test_archive_and_folders_give_identical_results(self):
    from_folder = babi.read(_RELEASE, (2, 19))
    for path in (_ARCHIVE, _DATA, _EN):
      self.assertEqual(babi.read(path, (2, 19)), from_folder, msg=path)
    data = [babi.load(p, 2) for p in (_ARCHIVE, _RELEASE)]
    for split in ('train', 'val', 'test'):
      for key, value in getattr(data[0], split).items():
        np.testing.assert_array_equal(value, getattr(data[1], split)[key])
    self.assertEqual(data[0].vocab, data[1].vocab)


class EncodeTest(parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data = babi.load(_RELEASE, 1)
    cls.raw3 = babi.read(_ARCHIVE, 3)

  def test_contract_shapes_and_dtypes(self):
    d = self.data
    n = {'train': 900, 'val': 100, 'test': 1000}
    for split, size in n.items():
      arrays = getattr(d, split)
      self.assertEqual(set(arrays), {'story', 'query', 'answer',
                                     'supporting', 'task'})
      for value in arrays.values():
        self.assertEqual(value.dtype, np.int32)
      self.assertEqual(arrays['story'].shape,
                       (size, 50, d.sentence_size))
      self.assertEqual(arrays['query'].shape, (size, d.sentence_size))
      self.assertEqual(arrays['answer'].shape, (size,))
      self.assertEqual(arrays['supporting'].shape, (size, 3))
      np.testing.assert_array_equal(arrays['task'], 1)
    self.assertEqual(d.sentence_size, 6)  # 'daniel went back to the hallway'

  def test_encoding_decodes_to_the_examples(self):
    d = self.data
    for i, ex in enumerate(d.examples['test'][:50]):
      story = d.test['story'][i]
      filled = story.any(axis=-1)
      np.testing.assert_array_equal(filled, np.arange(50) < len(ex.story))
      for slot, sentence in enumerate(ex.story):
        self.assertEqual(tuple(d.vocab.decode(story[slot])), sentence)
      self.assertEqual(tuple(d.vocab.decode(d.test['query'][i])), ex.query)
      self.assertEqual(d.vocab.words[d.test['answer'][i]], ex.answer)
      self.assertEqual(d.test['supporting'][i].tolist(),
                       [ex.supporting[0], -1, -1])

  def test_encoded_supporting_slot_holds_the_answer(self):
    t = self.data.test
    rows = np.arange(len(t['answer']))
    fact = t['story'][rows, t['supporting'][:, 0]]  # [n, L]
    self.assertTrue(np.all((fact == t['answer'][:, None]).any(axis=-1)))

  def test_memory_truncation_keeps_the_most_recent(self):
    examples = self.raw3.train
    vocab = babi.Vocab.build(examples)
    m = 10
    arrays = babi.encode(examples, vocab, memory_size=m)
    long_ones = 0
    for i, ex in enumerate(examples):
      offset = max(len(ex.story) - m, 0)
      long_ones += offset > 0
      kept = ex.story[offset:]
      for slot in range(m):
        expected = kept[slot] if slot < len(kept) else ()
        self.assertEqual(tuple(vocab.decode(arrays['story'][i, slot])),
                         expected)
      expected = [s - offset if s >= offset else -1 for s in ex.supporting]
      self.assertEqual(arrays['supporting'][i].tolist(), expected)
    self.assertGreater(long_ones, 500)
    self.assertTrue(np.any(arrays['supporting'] == -1))

  def test_memory_truncation_by_hand(self):
    story = tuple((w, 'left') for w in ('a', 'b', 'c', 'd', 'e'))
    ex = babi.Example(story, ('where',), 'a', (0, 3, 4), 7, 'x:1')
    vocab = babi.Vocab.build([ex])
    self.assertEqual(vocab.words, babi.SPECIALS + ('a', 'b', 'c', 'd', 'e',
                                                   'left', 'where'))
    out = babi.encode([ex], vocab, memory_size=3, sentence_size=3)
    # Ids: specials 0-2, a=3 ... e=7, left=8, where=9; c, d, e are kept.
    np.testing.assert_array_equal(out['story'][0],
                                  [[5, 8, 0], [6, 8, 0], [7, 8, 0]])
    np.testing.assert_array_equal(out['query'], [[9, 0, 0]])
    np.testing.assert_array_equal(out['supporting'], [[-1, 1, 2]])
    np.testing.assert_array_equal(out['answer'], [3])
    np.testing.assert_array_equal(out['task'], [7])

  def test_more_supporting_facts_than_columns_keeps_the_first(self):
    story = tuple((w,) for w in 'abcde')
    ex = babi.Example(story, ('q',), 'a', (0, 1, 2, 3, 4), 8, 'x:1')
    out = babi.encode([ex], babi.Vocab.build([ex]), supporting_size=3)
    np.testing.assert_array_equal(out['supporting'], [[0, 1, 2]])

  @parameterized.parameters(('sentence_size', 5), ('memory_size', 0),
                            ('supporting_size', 0))
  def test_too_small_size_names_the_argument(self, name, value):
    examples = self.data.examples['test'][:10]
    with self.assertRaisesRegex(ValueError, name):
      babi.encode(examples, self.data.vocab, **{name: value})

  def test_unknown_word_is_named(self):
    ex = babi.Example((('zebra', 'runs'),), ('where',), 'home', (), 1, 'x:1')
    with self.assertRaisesRegex(ValueError, 'zebra'):
      babi.encode([ex], self.data.vocab)

  def test_token_stream_by_hand(self):
    ex = babi.Example((('a', 'b'), ('c',)), ('q', 'a'), 'c', (1,), 1, 'x:1')
    short = babi.Example((('c',),), ('q',), 'a', (0,), 2, 'x:2')
    vocab = babi.Vocab.build([ex, short])
    a, b, c, q = (vocab.index(w) for w in 'abcq')
    eos, query = vocab.index('<eos>'), vocab.index('<query>')
    self.assertEqual((eos, query), (1, 2))
    out = babi.token_stream([ex, short], vocab)
    np.testing.assert_array_equal(out['tokens'], [
        [a, b, eos, c, eos, query, q, a],
        [c, eos, query, q, 0, 0, 0, 0]])
    np.testing.assert_array_equal(out['length'], [8, 4])
    np.testing.assert_array_equal(out['answer'], [c, a])
    np.testing.assert_array_equal(out['task'], [1, 2])
    recent = babi.token_stream([ex], vocab, memory_size=1, max_length=6)
    np.testing.assert_array_equal(recent['tokens'],
                                  [[c, eos, query, q, a, 0]])
    with self.assertRaisesRegex(ValueError, 'max_length'):
      babi.token_stream([ex], vocab, max_length=7)

  def test_vocab(self):
    vocab = self.data.vocab
    self.assertEqual(vocab.words[:3], ('<pad>', '<eos>', '<query>'))
    self.assertEqual(list(vocab.words[3:]), sorted(vocab.words[3:]))
    self.assertIn('bathroom', vocab)
    self.assertEqual(vocab.decode(vocab.encode_words(['where', 'is'])),
                     ['where', 'is'])
    restored = babi.Vocab.from_json(vocab.to_json())
    self.assertEqual(restored, vocab)
    self.assertLen(restored, len(vocab))
    with self.assertRaisesRegex(ValueError, 'vocabulary'):
      babi.Vocab.from_json('{"nope": 1}')

  def test_joint_vocab_holds_list_answers(self):
    vocab = babi.load(_ARCHIVE, (8, 19)).vocab
    self.assertIn('s,w', vocab)
    self.assertIn('apple,football', vocab)


class SplitTest(absltest.TestCase):

  def test_split_is_per_task_deterministic_disjoint_and_complete(self):
    train = babi.read(_EN, (1, 2, 17)).train
    a_train, a_val = babi.train_val_split(train, 0.1, seed=3)
    b_train, b_val = babi.train_val_split(train, 0.1, seed=3)
    self.assertEqual((a_train, a_val), (b_train, b_val))
    for task in (1, 2, 17):
      self.assertLen([ex for ex in a_val if ex.task == task], 100)
    sources = [ex.source for ex in train]
    self.assertLen(set(sources), 3000)
    val = {ex.source for ex in a_val}
    rest = {ex.source for ex in a_train}
    self.assertEmpty(val & rest)
    self.assertEqual(val | rest, set(sources))
    # Order is kept, and a task's split does not depend on the others.
    self.assertEqual([ex.source for ex in a_train],
                     [s for s in sources if s in rest])
    alone = babi.train_val_split([ex for ex in train if ex.task == 2], 0.1,
                                 seed=3)[1]
    self.assertEqual(alone, [ex for ex in a_val if ex.task == 2])
    other = babi.train_val_split(train, 0.1, seed=4)[1]
    self.assertNotEqual({ex.source for ex in other}, val)

  def test_load_holds_out_validation(self):
    d = babi.load(_ARCHIVE, (1, 4), val_fraction=0.2, seed=1)
    np.testing.assert_array_equal(np.bincount(d.val['task'])[1:],
                                  [200, 0, 0, 200])
    np.testing.assert_array_equal(np.bincount(d.train['task'])[1:],
                                  [800, 0, 0, 800])
    self.assertLen(d.test['task'], 2000)
    self.assertEqual(d.tasks, (1, 4))

  def test_bad_fraction(self):
    with self.assertRaisesRegex(ValueError, 'val_fraction'):
      babi.train_val_split([], 1.0)


_GOOD_TEST = '1 Mary went home.\n2 Where is Mary?\thome\t1\n'


class ErrorTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, self.tmp)

  def _write_task1(self, train_text):
    folder = os.path.join(self.tmp, 'en')
    os.makedirs(folder, exist_ok=True)
    files = {'train': train_text, 'test': _GOOD_TEST}
    for split, text in files.items():
      with open(os.path.join(folder, babi.task_filename(1, split)), 'w') as f:
        f.write(text)
    return os.path.join(folder, babi.task_filename(1, 'train'))

  def test_small_good_file(self):
    self._write_task1('1 Mary went home.\n2 John went out.\n'
                      '3 Where is John? \tout\t2\n1 Bob ran.\n'
                      '2 Where is Bob?\tnowhere\t\n')
    raw = babi.read(self.tmp, 1, strict_counts=False)  # 2 questions, not 1000
    self.assertEqual([(ex.story, ex.supporting) for ex in raw.train], [
        ((('mary', 'went', 'home'), ('john', 'went', 'out')), (1,)),
        ((('bob', 'ran'),), ())])

  @parameterized.named_parameters(
      ('bad_id', '1 Mary went home.\nx Where is Mary?\thome\t1\n', 2,
       'bad line ID'),
      ('no_id', '1 Mary went home.\nMary went home.\n', 2, 'bad line ID'),
      ('missing_tab_field', '1 Mary went home.\n2 Where is Mary?\thome\n', 2,
       '3 tab-separated fields'),
      ('extra_tab_field', '1 A ran.\n2 Where is A?\thome\t1\tx\n', 2,
       '3 tab-separated fields'),
      ('supporting_is_question',
       ('1 A went home.\n2 Where is A?\thome\t1\n3 B ran.\n'
        '4 Where is A?\thome\t2\n'), 4, 'supporting ID 2 is not a statement'),
      ('supporting_is_later', '1 A went home.\n2 Where is A?\thome\t3\n', 2,
       'supporting ID 3 is not a statement'),
      ('non_increasing', '1 A went home.\n2 B ran.\n2 Where is A?\thome\t1\n',
       3, 'does not increase'),
      ('first_not_1', '2 A went home.\n3 Where is A?\thome\t2\n', 1,
       'first story starts'),
      ('two_word_answer', '1 A went home.\n2 Where is A?\tat home\t1\n', 2,
       'one token'),
      ('empty_sentence', '1 A went home.\n2 .\n', 2, 'no words'),
  )
  def test_malformed_line_names_file_and_line(self, text, line, what):
    path = self._write_task1(text)
    with self.assertRaises(babi.BabiFormatError) as cm:
      babi.read(self.tmp, 1)
    message = str(cm.exception)
    self.assertIn(path, message)
    self.assertIn(f'line {line}:', message)
    self.assertIn(what, message)
    with self.assertRaisesRegex(babi.BabiFormatError,
                                f'^mine.txt, line {line}: '):
      babi.parse(text, task=1, filename='mine.txt')

  def test_missing_path(self):
    path = os.path.join(self.tmp, 'nowhere')
    with self.assertRaisesRegex(FileNotFoundError, f'{path} does not exist'):
      babi.load(path, 1)
    with self.assertRaisesRegex(FileNotFoundError, 'No bAbI set'):
      babi.read(self.tmp, 1)

  def test_missing_task_file_is_named(self):
    self._write_task1(_GOOD_TEST)
    os.remove(os.path.join(self.tmp, 'en', babi.task_filename(1, 'test')))
    with self.assertRaisesRegex(
        FileNotFoundError,
        'qa1_single-supporting-fact_test.txt not found in folder .*en'):
      babi.read(self.tmp, 1)

  @parameterized.parameters(_RELEASE, _ARCHIVE)
  def test_missing_10k_qa3_train(self, path):
    with self.assertRaisesRegex(
        FileNotFoundError, r'qa3_three-supporting-facts_train\.txt not found'
        r'.*allow_missing=True'):
      babi.load(path, (1, 3), 'en-10k')

  def test_allow_missing_skips_train_keeps_test(self):
    d = babi.load(_RELEASE, (3, 17), 'en-10k', allow_missing=True)
    self.assertEqual(d.missing,
                     ('en-10k/qa3_three-supporting-facts_train.txt',))
    self.assertEqual(set(d.train['task']) | set(d.val['task']), {17})
    np.testing.assert_array_equal(np.bincount(d.test['task'])[[3, 17]],
                                  [1000, 1000])
    self.assertLen(d.train['task'], 9000)

  def test_truncated_archive_is_named(self):
    with open(_ARCHIVE, 'rb') as f:
      data = f.read()
    path = os.path.join(self.tmp, 'tasks_1-20_v1-2.tar.gz')
    with open(path, 'wb') as f:
      f.write(data[:len(data) // 2])
    with self.assertRaisesRegex(babi.BabiFormatError,
                                f'{path} is truncated or corrupt'):
      babi.read(path, 1)
    with open(path, 'wb') as f:
      f.write(data[:100] + b'\0' * 1000 + data[1100:])
    with self.assertRaisesRegex(babi.BabiFormatError, 'truncated or corrupt'):
      babi.read(path, 1)

  @parameterized.parameters(0, 21, -1, 2.0, True)
  def test_unknown_task(self, task):
    with self.assertRaisesRegex(ValueError, 'Unknown bAbI task id'):
      babi.load(_RELEASE, task)
    with self.assertRaisesRegex(ValueError, 'Unknown bAbI task id'):
      babi.read(_RELEASE, (1, task))

  def test_unknown_set(self):
    with self.assertRaisesRegex(ValueError, "Unknown bAbI set 'en-1k'"):
      babi.load(_RELEASE, 1, 'en-1k')

  def test_set_folder_for_the_other_set(self):
    with self.assertRaisesRegex(FileNotFoundError, "the 'en' folder"):
      babi.read(_EN, 1, 'en-10k')

  def test_default_path(self):
    with mock.patch.dict(os.environ, {babi.ENV_VAR: self.tmp}):
      self.assertEqual(babi.default_path(), self.tmp)
    missing = os.path.join(self.tmp, 'x')
    with (mock.patch.dict(os.environ, {babi.ENV_VAR: missing}),
          self.assertRaisesRegex(FileNotFoundError, babi.ENV_VAR)):
      babi.default_path()
    cwd = os.getcwd()
    os.makedirs(os.path.join(self.tmp, 'a'))
    try:
      os.chdir(os.path.join(self.tmp, 'a'))
      with mock.patch.dict(os.environ, {babi.ENV_VAR: ''}):
        with self.assertRaisesRegex(FileNotFoundError, 'pass path='):
          babi.default_path()
        os.makedirs(os.path.join(self.tmp, 'shared', 'data', 'babi'))
        self.assertEqual(os.path.realpath(babi.default_path()),
                         os.path.realpath(
                             os.path.join(self.tmp, 'shared', 'data',
                                          'babi')))
    finally:
      os.chdir(cwd)


def _questions(text):
  """Question lines of a bAbI text (a question line holds a TAB)."""
  return sum('\t' in line for line in text.split('\n'))


def _cut(text, where):
  """`text` cut inside a line, and that line's number.

  Args:
    text: a whole bAbI file.
    where: 'mid_statement' (a statement in the middle of the file),
      'line_end' (after that statement's newline),
      'question_before_tab' (a question in the middle, before its TAB),
      'in_answer' (a question in the middle, inside its answer) or
      'in_supporting_ids' (the last line, inside its supporting IDs).
  """
  lines = text.split('\n')[:-1]
  if where == 'in_supporting_ids':
    i = len(lines) - 1
    line = lines[i]
    assert ' ' in line.rsplit('\t', 1)[1], 'needs two supporting IDs'
    cut = len(line) - 1  # drops the last ID's digit and the newline.
  else:
    want_tab = where not in ('mid_statement', 'line_end')
    i = next(i for i in range(len(lines) // 2, len(lines))
             if ('\t' in lines[i]) == want_tab)
    line = lines[i]
    if where == 'mid_statement':
      cut = len(line) // 2
    elif where == 'line_end':
      cut = len(line) + 1
    else:
      tab = line.index('\t')
      cut = tab - 3 if where == 'question_before_tab' else tab + 2
  start = sum(len(l) + 1 for l in lines[:i])
  return text[:start + cut], i + 1


def _write_release(root, set_name, task, texts, archive=False):
  """Writes a task's files laid out as the release; returns the path to read.

  Args:
    root: an empty folder.
    set_name: 'en' or 'en-10k'.
    task: the task id.
    texts: {split: file text}.
    archive: write `tasks_1-20_v1-2.tar.gz` holding the files instead.

  Returns:
    (path to pass to babi.read, {split: the display path of that file}).
  """
  folder = os.path.join(root, babi.RELEASE, set_name)
  os.makedirs(folder)
  shown = {}
  for split, text in texts.items():
    name = babi.task_filename(task, split)
    with open(os.path.join(folder, name), 'w') as f:
      f.write(text)
    shown[split] = os.path.join(folder, name)
  if not archive:
    return os.path.join(root, babi.RELEASE), shown
  path = os.path.join(root, f'{babi.RELEASE}.tar.gz')
  with tarfile.open(path, 'w:gz') as tar:
    tar.add(os.path.join(root, babi.RELEASE), arcname=babi.RELEASE)
  shutil.rmtree(os.path.join(root, babi.RELEASE))
  for split in texts:
    member = f'{babi.RELEASE}/{set_name}/{babi.task_filename(task, split)}'
    shown[split] = f'{path} (member {member})'
  return path, shown


class CountTest(parameterized.TestCase):
  """A file without the release's number of questions is not trained on."""

  _TASK = 17  # the smallest files; its questions have two supporting IDs.

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.texts = {}
    for split in babi.SPLITS:
      with open(os.path.join(_EN, babi.task_filename(cls._TASK, split))) as f:
        cls.texts[split] = f.read()

  def setUp(self):
    super().setUp()
    self.tmp = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, self.tmp)

  def _truncated(self, where, archive=False):
    """A release with the train file cut; (path, display, questions)."""
    text, _ = _cut(self.texts['train'], where)
    path, shown = _write_release(self.tmp, 'en', self._TASK,
                                 {'train': text, 'test': self.texts['test']},
                                 archive=archive)
    return path, shown['train'], _questions(text)

  @parameterized.named_parameters(
      ('folder', 'mid_statement', False),
      ('archive', 'mid_statement', True),
      ('at_a_line_end', 'line_end', False))
  def test_file_cut_short_names_file_and_counts(self, where, archive):
    path, shown, found = self._truncated(where, archive)
    self.assertBetween(found, 1, 999)
    for load in (babi.read, babi.load):
      with self.assertRaises(babi.BabiCountError) as cm:
        load(path, self._TASK)
      message = str(cm.exception)
      self.assertIn(shown, message)
      self.assertIn(f'has {found} questions, expected 1000', message)
      self.assertIn('strict_counts=False', message)
      self.assertNotIn(babi.task_filename(self._TASK, 'test'), message)
      self.assertIsInstance(cm.exception, babi.BabiFormatError)

  def test_strict_counts_false_warns_and_loads(self):
    path, shown, found = self._truncated('mid_statement')
    with self.assertLogs('absl', level='WARNING') as logs:
      raw = babi.read(path, self._TASK, strict_counts=False)
    self.assertLen(raw.train, found)
    self.assertLen(raw.test, 1000)
    self.assertLen(logs.records, 1)
    self.assertIn(shown, logs.output[0])
    self.assertIn(f'has {found} questions, expected 1000', logs.output[0])
    with self.assertLogs('absl', level='WARNING'):
      data = babi.load(path, self._TASK, strict_counts=False)
    self.assertEqual(len(data.train['answer']) + len(data.val['answer']),
                     found)

  @parameterized.parameters('question_before_tab', 'in_answer',
                            'in_supporting_ids')
  def test_file_cut_in_its_last_line_names_the_file(self, where):
    # A question cut before its TAB reads as a statement (one question
    # fewer), one cut in its answer is malformed, and one cut in its
    # supporting IDs parses: the missing final newline gives it away.
    path, shown, found = self._truncated(where)
    with self.assertRaises(babi.BabiFormatError) as cm:
      babi.read(path, self._TASK)
    message = str(cm.exception)
    self.assertIn(shown, message)
    if where == 'question_before_tab':
      self.assertIn(f'has {found} questions, expected 1000', message)
    self.assertRegex(message, 'may be (cut|truncated)')

  def test_intact_files_load_without_a_warning(self):
    path, _ = _write_release(self.tmp, 'en', self._TASK, self.texts)
    with mock.patch.object(babi.logging, 'warning') as warning:
      raw = babi.read(path, self._TASK)
    warning.assert_not_called()
    self.assertEqual((len(raw.train), len(raw.test)), (1000, 1000))

  def test_10k_set_expects_10000_train_questions(self):
    # The 1k files in the en-10k folder: train is short, test is right.
    path, shown = _write_release(self.tmp, 'en-10k', self._TASK, self.texts)
    with self.assertRaisesRegex(
        babi.BabiCountError,
        f'^bAbI file {re.escape(shown["train"])} has 1000 questions, '
        'expected 10000 .*strict_counts=False'):
      babi.read(path, self._TASK, 'en-10k')


def _tfds_missing():
  return importlib.util.find_spec('tensorflow_datasets') is None


class TfdsTest(absltest.TestCase):

  def test_importing_babi_does_not_import_tfds(self):
    code = ('import sys, memax, memax.data.babi; '
            'print("tensorflow_datasets" in sys.modules, '
            '"tensorflow" in sys.modules)')
    out = subprocess.run([sys.executable, '-c', code], check=True,
                         capture_output=True, text=True, cwd=_REPO)
    self.assertEqual(out.stdout.split(), ['False', 'False'])

  @absltest.skipIf(_tfds_missing(), 'tensorflow_datasets is not installed')
  def test_builder_writes_array_record_and_reads_back(self):
    from memax.data import babi_tfds  # pylint: disable=g-import-not-at-top
    tmp = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, tmp)
    builder = babi_tfds.MemaxBabi(config='en_qa1', data_dir=tmp,
                                  babi_path=_ARCHIVE,
                                  file_format='array_record')
    builder.download_and_prepare()
    self.assertTrue(any('.array_record-' in f
                        for f in os.listdir(builder.data_dir)))
    source = builder.as_data_source()
    self.assertEqual({k: len(v) for k, v in source.items()},
                     {'train': 900, 'validation': 100, 'test': 1000})
    raw = babi.read(_RELEASE, 1)
    train, val = babi.train_val_split(raw.train)
    self.assertEqual(babi_tfds.to_example(source['train'][0]), train[0])
    self.assertEqual(babi_tfds.to_example(source['train'][899]), train[-1])
    self.assertEqual(babi_tfds.to_example(source['validation'][7]), val[7])
    self.assertEqual(babi_tfds.to_example(source['test'][123]),
                     raw.test[123])
    if importlib.util.find_spec('tensorflow') is None:
      self.assertNotIn('tensorflow', sys.modules)

  @absltest.skipIf(_tfds_missing(), 'tensorflow_datasets is not installed')
  def test_builder_configs(self):
    from memax.data import babi_tfds  # pylint: disable=g-import-not-at-top
    names = [c.name for c in babi_tfds.MemaxBabi.BUILDER_CONFIGS]
    self.assertLen(names, 42)
    self.assertContainsSubset(['en_qa1', 'en_qa20', 'en_joint',
                               'en-10k_qa3', 'en-10k_joint'], names)
    joint = babi_tfds.MemaxBabi.builder_configs['en-10k_joint']
    self.assertEqual((joint.set_name, joint.tasks), ('en-10k',
                                                     babi.ALL_TASKS))


if __name__ == '__main__':
  absltest.main()
