"""A tensorflow-datasets builder for Omniglot that needs no TensorFlow.

Writes `array_record` files and is read back with `as_data_source()`; both
work with tensorflow-datasets and array_record installed and TensorFlow
absent. Reading is `memax.data.omniglot`'s, so a record holds exactly what
`omniglot.load` gives: the image as a uint8 [105, 105] tensor with 1 = ink
(`tfds.features.Image` would need TensorFlow to encode PNGs).

    builder = omniglot_tfds.MemaxOmniglot(
        data_dir=..., omniglot_path='/folder/of/the/zips',
        file_format='array_record')
    builder.download_and_prepare()
    train = builder.as_data_source()['train']  # a random-access sequence
    train[0]['image']                          # uint8 [105, 105], 1 = ink

Splits: 'train' and 'test', the shipped class split (`omniglot.split()`:
1,200 and 423 characters, 24,000 and 8,460 images). One record per image,
classes in `omniglot.load().classes` order and drawers in order inside a
class:
  image      uint8 [105, 105], 1 = ink, 0 = background.
  label      the class: its index into `omniglot.load().classes` (a
             ClassLabel whose names are those classes).
  character  the class name, 'Alphabet/characterNN'.
  alphabet   'Alphabet'.
  drawer     0..19, the image's place in its character's sorted file names.
Text fields come back from the data source as bytes. Building from the real
zips takes under a minute and writes about 15 MB. Importing this module imports tensorflow_datasets; `memax.data.omniglot`
never does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from memax.data import omniglot

# omniglot's helpers for a custom split and for zips of any name (downloads).
# pylint: disable=protected-access
_check_split_names = omniglot._check_split_names
_load_zips = omniglot._load_zips
# pylint: enable=protected-access

# The official zips, used only with download=True.
URLS: Mapping[str, str] = {
    omniglot.BACKGROUND: ('https://github.com/brendenlake/omniglot/raw/master/'
                          f'python/{omniglot.BACKGROUND}'),
    omniglot.EVALUATION: ('https://github.com/brendenlake/omniglot/raw/master/'
                          f'python/{omniglot.EVALUATION}'),
}

_CITATION = """\
@article{lake2015human,
  title={Human-level concept learning through probabilistic program
         induction},
  author={Lake, Brenden M. and Salakhutdinov, Ruslan and Tenenbaum, Joshua
          B.},
  journal={Science},
  volume={350},
  number={6266},
  pages={1332--1338},
  year={2015}
}"""


class MemaxOmniglot(tfds.core.GeneratorBasedBuilder):
  """Omniglot (Lake et al. 2015), read by memax.data.omniglot."""

  name = 'memax_omniglot'
  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Both official zips; the shipped 1200/423 class '
                            'split.'}
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      f'Pass omniglot_path= (the folder that holds {omniglot.BACKGROUND} and '
      f'{omniglot.EVALUATION}), or put the two zips in the manual dir, or '
      'build with download=True to fetch the official zips.')

  def __init__(self, *, omniglot_path: str | os.PathLike | None = None,
               download: bool = False,
               split_names: Mapping[str, Sequence[str]] | None = None,
               **kwargs):
    """Builder.

    Args:
      omniglot_path: the folder that holds both zips; None = the manual dir
        if it holds them, else the official zips if `download`, else
        `omniglot.default_path()`.
      download: fetch the official zips when no path is given.
      split_names: {'train': names, 'test': names}, a split of other
        characters, as `omniglot.load` takes it (tests, subsets; give such a
        build its own data_dir, since the version does not record it); None
        = the shipped split.
      **kwargs: for tfds.core.GeneratorBasedBuilder (data_dir, file_format,
        ...).
    """
    self._omniglot_path = omniglot_path
    self._download = download
    self._split_names = split_names
    super().__init__(**kwargs)

  def _classes(self) -> tuple[str, ...]:
    if self._split_names is None:
      shipped = omniglot.split()
      train, test = shipped['train'], shipped['test']
    else:
      train, test = _check_split_names(self._split_names)
    return tuple(sorted(train + test))

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=(
            'Omniglot: 1,623 handwritten characters of 50 alphabets, 20 '
            'drawers each, 105x105 binary images with 1 = ink. Classes are '
            'split 1,200 train / 423 test by sorted character path '
            '(memax.data.omniglot).'),
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(
                shape=(omniglot.IMAGE_SIZE, omniglot.IMAGE_SIZE),
                dtype=np.uint8),
            'label': tfds.features.ClassLabel(names=self._classes()),
            'character': tfds.features.Text(),
            'alphabet': tfds.features.Text(),
            'drawer': np.int32,
        }),
        supervised_keys=('image', 'label'),
        homepage='https://github.com/brendenlake/omniglot',
        citation=_CITATION,
        disable_shuffling=True,
        license='MIT',
    )

  def _zip_paths(self, dl_manager) -> tuple[list[str], str]:
    """The two zips to read, and where they are (for errors)."""
    zips = (omniglot.BACKGROUND, omniglot.EVALUATION)
    if self._omniglot_path is not None:
      folder = os.fspath(self._omniglot_path)
    else:
      manual = getattr(dl_manager, '_manual_dir', None)
      if manual is not None and all(
          os.path.isfile(os.path.join(manual, z)) for z in zips):
        folder = os.fspath(manual)
      elif self._download:
        paths = dl_manager.download(dict(URLS))
        return [os.fspath(paths[z]) for z in zips], 'the downloaded zips'
      else:
        folder = omniglot.default_path()
    if not os.path.isdir(folder):
      raise FileNotFoundError(
          f'Omniglot folder {folder} does not exist or is not a folder: '
          f'{self.MANUAL_DOWNLOAD_INSTRUCTIONS}')
    return [os.path.join(folder, z) for z in zips], f'folder {folder}'

  def _split_generators(self, dl_manager):
    paths, where = self._zip_paths(dl_manager)
    data = _load_zips(paths, split_names=self._split_names, where=where)
    return {
        'train': self._generate_examples(data, data.train),
        'test': self._generate_examples(data, data.test),
    }

  def _generate_examples(
      self, data: omniglot.Omniglot, classes: np.ndarray
  ) -> Iterator[tuple[int, dict[str, Any]]]:
    for label in classes:
      label = int(label)
      name = data.classes[label]
      for drawer in range(omniglot.DRAWERS):
        yield label * omniglot.DRAWERS + drawer, {
            'image': data.images[label, drawer],
            'label': label,
            'character': name,
            'alphabet': name.split('/')[0],
            'drawer': drawer,
        }
