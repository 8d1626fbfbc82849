"""Tests for `memax.data.babi_words`, on the real bAbI files."""

import os

from absl.testing import absltest
import numpy as np

from memax.data import babi
from memax.data import babi_words

_DATA = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared',
                     'data', 'babi')

# The first story of en/qa1_single-supporting-fact_train.txt, written out by
# reading the file (lines 1-15), one token per step.
_QA1_STORY1 = (
    'mary moved to the bathroom . john went to the hallway . '
    'where is mary ? - '
    'daniel went back to the hallway . sandra moved to the garden . '
    'where is daniel ? - '
    'john moved to the office . sandra journeyed to the bathroom . '
    'where is daniel ? - '
    'mary moved to the hallway . daniel travelled to the office . '
    'where is daniel ? - '
    'john went back to the garden . john moved to the bedroom . '
    'where is sandra ? -').split()
_QA1_ANSWERS = ('bathroom', 'hallway', 'hallway', 'office', 'bathroom')

# The first story of en/qa19_path-finding_train.txt (lines 1-6): answer 's,e'.
_QA19_STORY1 = (
    'the office is east of the hallway . '
    'the kitchen is north of the office . '
    'the garden is west of the bedroom . '
    'the office is west of the garden . '
    'the bathroom is north of the garden . '
    'how do you go from the kitchen to the garden ? - -').split()


def _answer_runs(tokens):
  """Questions in a token sequence: runs of consecutive '-'."""
  dash = np.asarray(tokens) == babi_words.ANSWER
  return int(np.sum(dash & ~np.concatenate([[False], dash[:-1]])))


class ParseTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.files, _ = babi.read_files(_DATA, (1, 8, 19), 'en')

  def _stories(self, task, split='train'):
    (f,) = [f for f in self.files if f.task == task and f.split == split]
    return babi_words.parse_stories(f)

  def test_first_qa1_story_by_hand(self):
    story = self._stories(1)[0]
    self.assertEqual(list(story.tokens), _QA1_STORY1)
    self.assertEqual(story.answers, tuple((a,) for a in _QA1_ANSWERS))
    self.assertEqual(story.task, 1)
    self.assertEqual(story.source,
                     'en/qa1_single-supporting-fact_train.txt:1')
    # The second story starts at line 16.
    self.assertEqual(self._stories(1)[1].source,
                     'en/qa1_single-supporting-fact_train.txt:16')

  def test_first_qa1_story_encoded(self):
    stories = self._stories(1)[:2]
    vocab = babi_words.WordVocab.build(stories)
    enc = babi_words.encode(stories, vocab)
    self.assertEqual(enc['length'].tolist(), [len(_QA1_STORY1),
                                              len(stories[1].tokens)])
    self.assertEqual(enc['offset'].tolist(), [0, len(_QA1_STORY1)])
    self.assertEqual(enc['questions'].tolist(), [5, 5])
    first = babi_words.dense(enc, [0])
    self.assertEqual(vocab.decode(first['tokens'][0]), _QA1_STORY1)
    # Targets only at the '-' steps: positions and words, by hand.
    # Counted by hand: sentences of 6 or 7 tokens, questions of 4.
    dashes = [16, 34, 51, 68, 86]
    self.assertLen(_QA1_STORY1, 87)
    self.assertEqual([_QA1_STORY1[i] for i in dashes], ['-'] * 5)
    answers = first['answers'][0]
    self.assertEqual(np.flatnonzero(answers >= 0).tolist(), dashes)
    self.assertEqual(vocab.decode(answers[dashes]), list(_QA1_ANSWERS))
    np.testing.assert_array_equal(np.delete(answers, dashes),
                                  babi_words.PAD_ID)

  def test_multi_word_answers_give_several_answer_steps(self):
    story = self._stories(19)[0]
    self.assertEqual(list(story.tokens), _QA19_STORY1)
    self.assertEqual(story.answers, (('s', 'e'),))
    vocab = babi_words.WordVocab.build([story])
    row = babi_words.dense(babi_words.encode([story], vocab))
    self.assertEqual(vocab.decode(row['answers'][0][-2:]), ['s', 'e'])
    self.assertEqual(int(np.sum(row['answers'] >= 0)), 2)
    # Task 8 (lists): 'nothing' is one word, 'apple,football' two; every
    # answer word has its '-' step, and every question its run of them.
    stories = self._stories(8)
    sizes = {len(a) for s in stories for a in s.answers}
    self.assertEqual(sizes, {1, 2, 3})
    for s in stories:
      self.assertEqual(s.tokens.count('-'), sum(map(len, s.answers)))
      self.assertEqual(_answer_runs(s.tokens), len(s.answers))
    self.assertEqual(stories[0].answers[:3],
                     (('football',), ('nothing',), ('football',)))


class CountsTest(absltest.TestCase):
  """Every file of the 'en' set: questions, stories, the vocabulary."""

  def test_every_question_is_encoded_once(self):
    files, missing = babi.read_files(_DATA, babi.ALL_TASKS, 'en')
    self.assertEqual(missing, ())
    self.assertLen(files, 40)
    stories = {}
    for f in files:
      parsed = babi_words.parse_stories(f)
      stories[f.task, f.split] = parsed
      tokens = [w for s in parsed for w in s.tokens]
      with self.subTest(f.source):
        # 1,000 questions per file (the official count), each one run of
        # '-' steps, one step per answer word.
        self.assertEqual(sum(len(s.answers) for s in parsed), 1000)
        self.assertEqual(sum(_answer_runs(s.tokens) for s in parsed), 1000)
        self.assertEqual(tokens.count('-'),
                         sum(len(a) for s in parsed for a in s.answers))
    # Stories per file, as measured (a story holds 1 to 12 questions).
    self.assertEqual(len(stories[1, 'train']), 200)
    self.assertEqual(len(stories[4, 'train']), 1000)
    self.assertEqual(len(stories[20, 'train']), 94)
    self.assertEqual(len(stories[20, 'test']), 93)
    self.assertEqual(sum(len(s) for (_, split), s in stories.items()
                         if split == 'train'), 6267)
    # The vocabulary of the 20 tasks: 156 words and '-', '.', '?' (the DNC
    # paper's 159); no padding symbol.
    vocab = babi_words.WordVocab.build(*stories.values())
    self.assertLen(vocab, 159)
    self.assertEqual(vocab.words[:4], ('-', '.', '?', 'a'))
    self.assertEqual(vocab.answer_id, 0)


class LoadTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data = babi_words.load(_DATA, (1, 20), 'en', seed=0)

  def test_splits_by_story(self):
    data = self.data
    # 10 % of each task's train stories: 20 of qa1's 200, 9 of qa20's 94.
    self.assertEqual(np.bincount(data.val['task']).tolist()[1::19], [20, 9])
    self.assertEqual(np.bincount(data.train['task']).tolist()[1::19],
                     [180, 85])
    train = {s.source for s in data.stories['train']}
    val = {s.source for s in data.stories['val']}
    self.assertEmpty(train & val)
    self.assertLen(train | val, 294)
    # Whole stories: their questions sum to the files' 2,000.
    self.assertEqual(int(data.train['questions'].sum() +
                         data.val['questions'].sum()), 2000)
    self.assertEqual(int(data.test['questions'].sum()), 2000)

  def test_split_is_deterministic_and_seeded(self):
    again = babi_words.load(_DATA, (1, 20), 'en', seed=0)
    other = babi_words.load(_DATA, (1, 20), 'en', seed=1)
    sources = lambda d: [s.source for s in d.stories['val']]
    self.assertEqual(sources(again), sources(self.data))
    self.assertNotEqual(sources(other), sources(self.data))
    for k, v in self.data.val.items():
      np.testing.assert_array_equal(again.val[k], v, err_msg=k)
    # A task's split does not depend on the other tasks loaded.
    alone = babi_words.load(_DATA, 1, 'en', seed=0)
    self.assertEqual(sources(alone),
                     [s for s in sources(self.data) if 'qa1_' in s])

  def test_sizes(self):
    self.assertEqual(self.data.max_questions, 12)  # task 20
    self.assertEqual(self.data.max_length,
                     max(len(s.tokens) for v in self.data.stories.values()
                         for s in v))
    dense = babi_words.dense(self.data.test, [0, 1], max_length=200)
    self.assertEqual(dense['tokens'].shape, (2, 200))
    length = dense['length']
    self.assertTrue(np.all(dense['tokens'][0, length[0]:] ==
                           babi_words.PAD_ID))
    with self.assertRaisesRegex(ValueError, 'max_length'):
      babi_words.dense(self.data.test, [0], max_length=3)

  def test_missing_train_file_is_skipped_and_tested(self):
    # The shared en-10k lacks qa3's train file.
    with self.assertRaisesRegex(FileNotFoundError, 'allow_missing'):
      babi_words.load(_DATA, (1, 3), 'en-10k')
    data = babi_words.load(_DATA, (1, 3), 'en-10k', allow_missing=True)
    self.assertEqual(data.missing,
                     ('en-10k/qa3_three-supporting-facts_train.txt',))
    self.assertEqual(set(data.train['task'].tolist()), {1})
    self.assertEqual(set(data.test['task'].tolist()), {1, 3})
    self.assertEqual(int(data.train['questions'].sum() +
                         data.val['questions'].sum()), 10000)


if __name__ == '__main__':
  absltest.main()
