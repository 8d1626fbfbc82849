"""Omniglot (Lake et al. 2015) for one-shot learning (Santoro et al. 2016).

Reads the two official zips of github.com/brendenlake/omniglot (folder
`python/`) straight from disk, nothing extracted and nothing cached (decoding
all 32,460 images takes about 6 s):

  images_background.zip  30 alphabets, 964 characters
  images_evaluation.zip  20 alphabets, 659 characters

Each character was drawn once by each of 20 people (drawers), so every
character folder holds 20 PNGs: `images_evaluation/Angelic/character01/
0965_01.png` ... `0965_20.png`, 105x105, 1 bit per pixel (PIL mode '1',
white background). A class is a character, named 'Alphabet/characterNN'.
Images are returned as uint8 with 1 = ink (stroke) and 0 = background, the
drawers of a character in sorted file-name order. Pure Python, NumPy and
Pillow: nothing here touches a device or imports TensorFlow.

The class split. MANN (Santoro et al. 2016) trains on 1,200 characters and
tests on the other 423, ignoring the background/evaluation division of the
release. The paper does not list its split, and public implementations give
no reproducible one: snowkylin/ntm walks the extracted images with `os.walk`
and takes the first 1,200 character folders for training and the last 423 for
test, in an order that depends on the file system (directory order is not
sorted on ext4, say); tristandeleu/ntm-one-shot lists the folders with
`os.listdir` (unsorted too) and samples episodes from images_background
alone, holding no classes out. memax ships a fixed split instead (`split()`,
the file `omniglot_split.txt` beside this module): the 1,623 characters
sorted by path ('Alphabet/characterNN', plain Python string order, so by
alphabet, then character), the first 1,200 for training and the other 423 for
test. Because the sort interleaves the two zips' alphabets, both halves mix
background and evaluation characters:

  train: 1,200 = 780 background + 420 evaluation characters (37 alphabets)
  test:    423 = 184 background + 239 evaluation characters (14 alphabets)

One alphabet straddles the cut: Mongolian (evaluation) characters 01-26 are
in train and 27-30 in test; each of the other 49 alphabets is wholly in one
half. The file was generated once from the two zips: the distinct
'Alphabet/characterNN' folders of every PNG in both, sorted with `sorted()`,
written one per line as `train<TAB>name` for the first 1,200 and
`test<TAB>name` for the rest. `load` checks that the zips hold exactly these
characters.

    data = omniglot.load()             # or load('/folder/of/the/zips')
    data.images                        # uint8 [1623, 20, 105, 105], 1 = ink
    data.images[data.train]            # uint8 [1200, 20, 105, 105]
    data.classes[data.test[0]]         # 'Mongolian/character27'
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import io
import os
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from PIL import Image

from memax.data import paths

ENV_VAR = 'MEMAX_OMNIGLOT_DIR'
BACKGROUND = 'images_background.zip'
EVALUATION = 'images_evaluation.zip'
IMAGE_SIZE = 105
DRAWERS = 20
NUM_TRAIN_CLASSES = 1200
NUM_TEST_CLASSES = 423

_ZIPS = (BACKGROUND, EVALUATION)
_SPLIT_FILE = 'omniglot_split.txt'
_SPLITS = ('train', 'test')
_OFFICIAL = ('the official zips from https://github.com/brendenlake/omniglot '
             '(folder python/)')
_HELP = (f'set config.task.data_dir (or pass path=...) or ${ENV_VAR} to the '
         f'folder that holds {BACKGROUND} and {EVALUATION}, {_OFFICIAL}')


class Omniglot(NamedTuple):
  """All Omniglot images and the class split, as returned by `load`.

  Attributes:
    images: uint8 [C, 20, 105, 105], 1 = ink, 0 = background; C classes
      (1623 with the shipped split) in `classes` order, drawers in sorted
      file-name order.
    classes: the class names 'Alphabet/characterNN', sorted.
    train: int32 [1200], sorted indices into `classes`: the training classes.
    test: int32 [423], sorted indices into `classes`: the test classes.
  """

  images: np.ndarray
  classes: tuple[str, ...]
  train: np.ndarray
  test: np.ndarray


def default_path() -> str:
  """Where the Omniglot zips are, when no path is given.

  The environment variable MEMAX_OMNIGLOT_DIR if set, else
  `../shared/data/omniglot` relative to the working directory if it exists (a
  convenience for working inside the memax checkout; nothing relies on it).

  Returns:
    The folder to pass to `load`.

  Raises:
    FileNotFoundError: neither exists.
  """
  return paths.default_path(
      ENV_VAR, 'omniglot',
      bad_env=(f'point it at the folder that holds {BACKGROUND} and '
               f'{EVALUATION}, {_OFFICIAL}.'),
      missing=f'No Omniglot data path given: {_HELP}.')


# ----------------------------------------------------------------------------
# The shipped split.


def split() -> dict[str, tuple[str, ...]]:
  """The shipped class split (see the module docstring).

  Returns:
    {'train': 1200 class names, 'test': 423 class names}, each sorted; the
    train names all sort before the test names.

  Raises:
    FileNotFoundError: the split file is missing from the installed package.
    ValueError: the split file is malformed.
  """
  train, test = _shipped_split()
  return {'train': train, 'test': test}


def _split_resource():
  return importlib.resources.files('memax.data').joinpath(_SPLIT_FILE)


@functools.lru_cache(maxsize=1)
def _shipped_split() -> tuple[tuple[str, ...], tuple[str, ...]]:
  resource = _split_resource()
  try:
    text = resource.read_text(encoding='utf-8')
  except FileNotFoundError as e:
    raise FileNotFoundError(
        f'The Omniglot split file {resource} is missing from the installed '
        'memax package (it is package data, see pyproject.toml): reinstall '
        'memax.') from e
  return _parse_split(text, str(resource))


def _parse_split(text: str,
                 display: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
  """Parses and checks the split file's text; `display` names it."""
  names: dict[str, list[str]] = {s: [] for s in _SPLITS}
  for lineno, line in enumerate(text.splitlines(), start=1):
    which, tab, name = line.partition('\t')
    if which not in names or not tab or not _is_class_name(name):
      raise ValueError(
          f'Omniglot split file {display}, line {lineno}: expected '
          f"'train<TAB>Alphabet/characterNN' or 'test<TAB>...', got "
          f'{line!r}.')
    names[which].append(name)
  train, test = names['train'], names['test']
  if (len(train), len(test)) != (NUM_TRAIN_CLASSES, NUM_TEST_CLASSES):
    raise ValueError(
        f'Omniglot split file {display} has {len(train)} train and '
        f'{len(test)} test classes, expected {NUM_TRAIN_CLASSES} and '
        f'{NUM_TEST_CLASSES}: reinstall memax.')
  ordered = train + test
  if ordered != sorted(set(ordered)):
    raise ValueError(
        f'Omniglot split file {display} is not the sorted list of distinct '
        'characters with the first 1200 as train: reinstall memax.')
  return tuple(train), tuple(test)


def _is_class_name(name: str) -> bool:
  alphabet, slash, character = name.partition('/')
  return bool(alphabet and slash and character and '/' not in character and
              name == name.strip())


def _check_split_names(
    split_names: Mapping[str, Sequence[str]]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
  """Checks a custom split given to `load`; returns (train, test), sorted."""
  if not isinstance(split_names, Mapping) or set(split_names) != set(_SPLITS):
    raise ValueError(f'Omniglot split_names must be a mapping with keys '
                     f"'train' and 'test', got {split_names!r}.")
  out = []
  for which in _SPLITS:
    names = split_names[which]
    if isinstance(names, str):
      raise ValueError(f'Omniglot split_names[{which!r}] must be a sequence '
                       f'of class names, got the string {names!r}.')
    names = tuple(names)
    for name in names:
      if not isinstance(name, str) or not _is_class_name(name):
        raise ValueError(f'Omniglot split_names[{which!r}] holds {name!r}: '
                         "expected 'Alphabet/characterNN'.")
    if len(set(names)) != len(names):
      raise ValueError(f'Omniglot split_names[{which!r}] has duplicates.')
    out.append(tuple(sorted(names)))
  both = sorted(set(out[0]) & set(out[1]))
  if both:
    raise ValueError(f'Omniglot split_names puts {both[0]} in both train and '
                     'test.')
  if not out[0] and not out[1]:
    raise ValueError('Omniglot split_names is empty.')
  return out[0], out[1]


# ----------------------------------------------------------------------------
# Reading zips.


def _open_zip(path: str) -> zipfile.ZipFile:
  """Opens a zip, or raises an error that names it."""
  if not os.path.exists(path):
    raise FileNotFoundError(f'Omniglot zip {path} does not exist: {_HELP}.')
  if not os.path.isfile(path):
    raise ValueError(f'Omniglot zip {path} is not a file: {_HELP}.')
  try:
    return zipfile.ZipFile(path)
  except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError,
          OSError, ValueError) as e:
    raise ValueError(
        f'Omniglot zip {path} is not a zip file or is corrupt '
        f'({type(e).__name__}: {e}): download {os.path.basename(path)} again '
        f'({_OFFICIAL}).') from e


def _character_entries(zf: zipfile.ZipFile, path: str) -> dict[str, list[str]]:
  """Groups a zip's PNG entries by character and checks the layout.

  Args:
    zf: the open zip.
    path: names the zip in errors.

  Returns:
    {'Alphabet/characterNN': its DRAWERS entry names, sorted}. Directory
    entries of character folders count as characters (with no images).

  Raises:
    ValueError: an entry off the official layout, no images at all, or a
      character without exactly DRAWERS images.
  """
  chars: dict[str, list[str]] = {}
  for info in zf.infolist():
    entry = info.filename
    parts = entry.rstrip('/').split('/')
    if parts[0] == '__MACOSX' or parts[-1].startswith('.'):
      continue  # Finder's metadata, .DS_Store
    if info.is_dir():
      if len(parts) == 3 and all(parts):
        chars.setdefault(f'{parts[1]}/{parts[2]}', [])
      continue
    if (len(parts) != 4 or not all(parts) or
        not parts[3].lower().endswith('.png')):
      raise ValueError(
          f'Omniglot zip {path}: unexpected entry {entry!r}; expected '
          '<folder>/<Alphabet>/<characterNN>/<image>.png as in '
          f'{_OFFICIAL}.')
    chars.setdefault(f'{parts[1]}/{parts[2]}', []).append(entry)
  if not chars:
    raise ValueError(f'Omniglot zip {path} holds no character folders: '
                     f'expected {_OFFICIAL}.')
  for name in sorted(chars):
    entries = chars[name]
    if len(entries) != DRAWERS:
      raise ValueError(
          f'Omniglot zip {path}: character {name} has {len(entries)} '
          f'images, expected {DRAWERS} (one per drawer); download '
          f'{os.path.basename(path)} again ({_OFFICIAL}).')
    entries.sort()  # one folder: sorted by file name
  return chars


def _read_entry(zf: zipfile.ZipFile, path: str, entry: str) -> bytes:
  try:
    return zf.read(entry)
  except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
          NotImplementedError, ValueError) as e:
    raise ValueError(
        f'Omniglot zip {path}: cannot read entry {entry} '
        f'({type(e).__name__}: {e}); the zip is corrupt: download '
        f'{os.path.basename(path)} again ({_OFFICIAL}).') from e


def _decode(data: bytes, path: str, entry: str) -> np.ndarray:
  """Decodes one PNG to bool [IMAGE_SIZE, IMAGE_SIZE], True = ink."""
  try:
    with Image.open(io.BytesIO(data)) as img:
      img.load()
      size = img.size
      if img.mode == '1':
        ink = ~np.asarray(img, dtype=bool)  # True = white background
      else:
        ink = np.asarray(img.convert('L')) < 128
  except (OSError, SyntaxError, ValueError, TypeError, EOFError,
          zlib.error, Image.DecompressionBombError) as e:
    raise ValueError(
        f'Omniglot zip {path}: entry {entry} is not a readable PNG '
        f'({type(e).__name__}: {e}).') from e
  if size != (IMAGE_SIZE, IMAGE_SIZE):
    raise ValueError(
        f'Omniglot zip {path}: entry {entry} is {size[0]}x{size[1]} pixels, '
        f'expected {IMAGE_SIZE}x{IMAGE_SIZE}.')
  return ink


def _read_character(zf: zipfile.ZipFile, path: str, entries: Sequence[str],
                    out: np.ndarray) -> None:
  """Decodes a character's images into `out`, uint8 [DRAWERS, H, W]."""
  for drawer, entry in enumerate(entries):
    out[drawer] = _decode(_read_entry(zf, path, entry), path, entry)


def read_zip(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Reads one Omniglot zip (images_background.zip or images_evaluation.zip).

  Args:
    path: the zip file.

  Returns:
    {'Alphabet/characterNN': uint8 [20, 105, 105]}, 1 = ink, 0 = background,
    drawers in sorted file-name order; keys sorted.

  Raises:
    FileNotFoundError: the zip does not exist.
    ValueError: not a zip or a corrupt one (bad CRC), an undecodable PNG, an
      image that is not 105x105, a character without exactly 20 images, or an
      entry off the official layout; each names the zip and the entry or
      character.
  """
  path = os.fspath(path)
  with _open_zip(path) as zf:
    chars = _character_entries(zf, path)
    out = {}
    for name in sorted(chars):
      out[name] = np.empty((DRAWERS, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
      _read_character(zf, path, chars[name], out[name])
  return out


# ----------------------------------------------------------------------------
# Loading both zips.


def load(path: str | os.PathLike = '', *,
         split_names: Mapping[str, Sequence[str]] | None = None) -> Omniglot:
  """Reads both Omniglot zips and the class split.

  Args:
    path: the folder that holds images_background.zip and
      images_evaluation.zip; '' = `default_path()`.
    split_names: {'train': names, 'test': names}, a split of other
      characters (tests, subsets); None = the shipped split, `split()`. The
      zips must hold exactly the characters named.

  Returns:
    Omniglot(images, classes, train, test); `classes` is every split name,
    sorted, so with the shipped split train = 0..1199 and test = 1200..1622.

  Raises:
    FileNotFoundError: the folder or a zip does not exist.
    ValueError: a bad zip (see `read_zip`), a character in both zips, or
      characters that differ from the split's, naming the zip (or the folder)
      and the first missing or unexpected character.
  """
  folder = os.fspath(path) or default_path()
  if not os.path.exists(folder):
    raise FileNotFoundError(f'Omniglot folder {folder} does not exist: '
                            f'{_HELP}.')
  if not os.path.isdir(folder):
    raise ValueError(f'Omniglot path {folder} is a file, not a folder: '
                     f'{_HELP}.')
  zips = [os.path.join(folder, z) for z in _ZIPS]
  if split_names is not None:
    return _load_zips(zips, split_names=split_names,
                      where=f'folder {folder}')
  # The shipped split: decoded once per process for the same zips (same
  # real paths, sizes and modification times), e.g. a training run and its
  # evaluation, or the tests; the arrays are read-only.
  stamps = []
  for p in zips:
    try:
      info = os.stat(p)
      stamps.append((os.path.realpath(p), info.st_size, info.st_mtime_ns))
    except OSError:
      return _load_zips(zips, where=f'folder {folder}')  # its own error.
  return _load_shipped(tuple(stamps), tuple(zips), f'folder {folder}')


@functools.lru_cache(maxsize=2)
def _load_shipped(stamps: tuple, paths: tuple[str, ...], where: str
                  ) -> Omniglot:
  del stamps  # the cache key: the same files, unchanged.
  data = _load_zips(list(paths), where=where)
  for array in (data.images, data.train, data.test):
    array.flags.writeable = False
  return data


def _load_zips(paths: Sequence[str], *,
               split_names: Mapping[str, Sequence[str]] | None = None,
               where: str = '') -> Omniglot:
  """`load` from zip paths of any names (omniglot_tfds's downloads).

  Args:
    paths: the zips to read (background and evaluation).
    split_names: as for `load`.
    where: names the zips' location in errors, e.g. 'folder /data'.

  Returns:
    As `load`.
  """
  if split_names is None:
    train_names, test_names = _shipped_split()
    described = f'the shipped split {_split_resource()}'
  else:
    train_names, test_names = _check_split_names(split_names)
    described = 'split_names'
  classes = tuple(sorted(train_names + test_names))
  where = where or ' and '.join(paths)
  with contextlib.ExitStack() as stack:
    found: dict[str, tuple[str, zipfile.ZipFile, list[str]]] = {}
    for path in paths:
      zf = stack.enter_context(_open_zip(path))
      for name, entries in _character_entries(zf, path).items():
        if name in found:
          raise ValueError(f'Omniglot character {name} is in both '
                           f'{found[name][0]} and {path}.')
        found[name] = (path, zf, entries)
    _check_characters(found, classes, described, where)
    images = np.empty((len(classes), DRAWERS, IMAGE_SIZE, IMAGE_SIZE),
                      np.uint8)
    for i, name in enumerate(classes):
      path, zf, entries = found[name]
      _read_character(zf, path, entries, images[i])
  index = {name: i for i, name in enumerate(classes)}
  return Omniglot(
      images=images, classes=classes,
      train=np.asarray(sorted(index[n] for n in train_names), np.int32),
      test=np.asarray(sorted(index[n] for n in test_names), np.int32))


def _check_characters(found: Mapping[str, tuple[str, zipfile.ZipFile,
                                                 list[str]]],
                      classes: Sequence[str], described: str,
                      where: str) -> None:
  """Raises if the zips' characters are not exactly `classes`."""
  unexpected = sorted(set(found) - set(classes))
  if unexpected:
    name = unexpected[0]
    raise ValueError(
        f'Omniglot zip {found[name][0]} holds character {name}, which is not '
        f'in {described} ({len(unexpected)} unexpected character(s) in all): '
        f'expected {_OFFICIAL}.')
  missing = sorted(set(classes) - set(found))
  if missing:
    name = missing[0]
    alphabet = name.split('/')[0]
    zips = sorted({p for n, (p, *_) in found.items()
                   if n.split('/')[0] == alphabet})
    if zips:
      inside = f'{" and ".join(zips)}, which holds other {alphabet} characters'
    else:
      inside = f'{where} (no {alphabet} characters at all)'
    raise ValueError(
        f'Omniglot character {name} of {described} is missing from {inside} '
        f'({len(missing)} missing character(s) in all): expected '
        f'{_OFFICIAL}.')
