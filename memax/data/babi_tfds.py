"""A tensorflow-datasets builder for bAbI v1.2 that needs no TensorFlow.

Writes `array_record` files and is read back with `as_data_source()`; both
work with tensorflow-datasets and array_record installed and TensorFlow
absent. Parsing is `memax.data.babi`'s, so a record holds exactly what the
parser gives (sentences are stored as space-joined tokens, because nested
sequences would need TensorFlow to serialise).

    builder = babi_tfds.MemaxBabi(config='en_qa1', data_dir=...,
                                  babi_path='.../tasks_1-20_v1-2.tar.gz',
                                  file_format='array_record')
    builder.download_and_prepare()
    train = builder.as_data_source()['train']  # a random-access sequence
    example = babi_tfds.to_example(train[0])

Configs: '<set>_qa<task>' and '<set>_joint' for set 'en' and 'en-10k'.
Splits: 'train', 'validation' (`babi.train_val_split` of the official train
file, per task) and 'test'. Importing this module imports
tensorflow_datasets; `memax.data.babi` never does.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from memax.data import babi

# The official release, used only with download=True.
URL = 'http://www.thespermwhale.com/jaseweston/babi/tasks_1-20_v1-2.tar.gz'

_CITATION = """\
@article{weston2015towards,
  title={Towards {AI}-Complete Question Answering: A Set of Prerequisite Toy
         Tasks},
  author={Weston, Jason and Bordes, Antoine and Chopra, Sumit and Rush,
          Alexander M. and van Merri{\\"e}nboer, Bart and Joulin, Armand and
          Mikolov, Tomas},
  journal={arXiv preprint arXiv:1502.05698},
  year={2015}
}"""


@dataclasses.dataclass
class BabiConfig(tfds.core.BuilderConfig):
  """One bAbI set and one task, or all 20 (joint)."""

  set_name: str = 'en'
  tasks: tuple[int, ...] = (1,)


def _configs() -> list[BabiConfig]:
  configs = []
  for set_name in babi.SETS:
    size = '1k' if set_name == 'en' else '10k'
    for task in babi.ALL_TASKS:
      configs.append(BabiConfig(
          name=f'{set_name}_qa{task}', set_name=set_name, tasks=(task,),
          description=f'{babi.TASKS[task]}, {size} train questions.'))
    configs.append(BabiConfig(
        name=f'{set_name}_joint', set_name=set_name, tasks=babi.ALL_TASKS,
        description=f'All 20 tasks, {size} train questions each.'))
  return configs


def _record(ex: babi.Example) -> dict[str, Any]:
  return {
      'story': [' '.join(s) for s in ex.story],
      'query': ' '.join(ex.query),
      'answer': ex.answer,
      'supporting': np.asarray(ex.supporting, dtype=np.int32),
      'task': ex.task,
      'source': ex.source,
  }


def _text(value: bytes | str) -> str:
  return value.decode('utf-8') if isinstance(value, bytes) else str(value)


def to_example(record: Mapping[str, Any]) -> babi.Example:
  """Turns a record read from the data source back into a babi.Example."""
  return babi.Example(
      story=tuple(tuple(_text(s).split()) for s in record['story']),
      query=tuple(_text(record['query']).split()),
      answer=_text(record['answer']),
      supporting=tuple(int(i) for i in record['supporting']),
      task=int(record['task']),
      source=_text(record['source']))


class MemaxBabi(tfds.core.GeneratorBasedBuilder):
  """bAbI QA tasks v1.2 (Weston et al. 2015), parsed by memax.data.babi."""

  name = 'memax_babi'
  VERSION = tfds.core.Version('1.2.0')
  RELEASE_NOTES = {'1.2.0': 'bAbI tasks v1.2, en and en-10k.'}
  BUILDER_CONFIGS = _configs()
  DEFAULT_CONFIG_NAME = 'en_qa1'
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      f'Pass babi_path= (the archive {babi.RELEASE}.tar.gz or its extracted '
      'folder), or put the archive or the folder in the manual dir, or build '
      'with download=True to fetch the official archive.')

  def __init__(self, *, babi_path: str | os.PathLike | None = None,
               download: bool = False, val_fraction: float = 0.1,
               seed: int = 0, allow_missing: bool = False,
               strict_counts: bool = True, **kwargs):
    """Builder.

    Args:
      babi_path: bAbI data as `babi.read` takes it; None = the manual dir,
        else the official archive if `download`, else `babi.default_path()`.
      download: fetch the official archive when no path is given.
      val_fraction: fraction of each task's train file in 'validation'.
      seed: seed of the validation split.
      allow_missing: skip a missing train file (en-10k task 3 in the shared
        copy) instead of failing; the test split keeps the task.
      strict_counts: fail on a file without the release's number of
        questions (e.g. cut short); False logs a warning (`babi.read`).
      **kwargs: for tfds.core.GeneratorBasedBuilder (config, data_dir,
        file_format, ...).
    """
    self._babi_path = babi_path
    self._download = download
    self._val_fraction = val_fraction
    self._seed = seed
    self._allow_missing = allow_missing
    self._strict_counts = strict_counts
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=(
            'bAbI QA tasks v1.2: stories, questions, one-token answers and '
            'supporting facts. Tokens are lowercase with punctuation dropped; '
            'a sentence is stored as its tokens joined by spaces. '
            '`supporting` indexes `story`.'),
        features=tfds.features.FeaturesDict({
            'story': tfds.features.Sequence(tfds.features.Text()),
            'query': tfds.features.Text(),
            'answer': tfds.features.Text(),
            'supporting': tfds.features.Sequence(np.int32),
            'task': np.int32,
            'source': tfds.features.Text(),
        }),
        homepage='https://research.facebook.com/downloads/babi/',
        citation=_CITATION,
        disable_shuffling=True,
        license='CC BY 3.0',
    )

  def _data_path(self, dl_manager) -> str:
    if self._babi_path is not None:
      return os.fspath(self._babi_path)
    manual = getattr(dl_manager, '_manual_dir', None)
    if manual is not None and os.path.isdir(manual) and os.listdir(manual):
      return os.fspath(manual)
    if self._download:
      return os.fspath(dl_manager.download(URL))
    return babi.default_path()

  def _split_generators(self, dl_manager):
    config = self.builder_config
    raw = babi.read(self._data_path(dl_manager), config.tasks,
                    config.set_name, allow_missing=self._allow_missing,
                    strict_counts=self._strict_counts)
    train, val = babi.train_val_split(raw.train, self._val_fraction,
                                      self._seed)
    return {
        'train': self._generate_examples(train),
        'validation': self._generate_examples(val),
        'test': self._generate_examples(raw.test),
    }

  def _generate_examples(
      self, examples: Sequence[babi.Example]
  ) -> Iterator[tuple[int, dict[str, Any]]]:
    for i, ex in enumerate(examples):
      yield i, _record(ex)
