"""Tests for `memax.data.omniglot` and its tfds builder.

The real zips (MEMAX_OMNIGLOT_DIR, else ../shared/data/omniglot beside the
repository) are loaded once, in RealDataTest; everything else runs on tiny
zips written here.
"""

import importlib.util
import io
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
from PIL import Image

from memax.data import omniglot

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
_DATA = (os.environ.get(omniglot.ENV_VAR) or
         os.path.join(_REPO, '..', 'shared', 'data', 'omniglot'))
_ZIPS = (omniglot.BACKGROUND, omniglot.EVALUATION)
_MISSING = not all(os.path.isfile(os.path.join(_DATA, z)) for z in _ZIPS)
_SKIP_REASON = (f'the Omniglot zips are not in {_DATA} (set '
                f'{omniglot.ENV_VAR} to the folder that holds {_ZIPS[0]} and '
                f'{_ZIPS[1]})')
_S = omniglot.IMAGE_SIZE


def _characters_in(path):
  """{'Alphabet/characterNN': PNG count} of a zip, from its entry names."""
  counts = {}
  with zipfile.ZipFile(path) as zf:
    for entry in zf.namelist():
      if entry.endswith('.png'):
        name = '/'.join(entry.split('/')[1:3])
        counts[name] = counts.get(name, 0) + 1
  return counts


def _png(ink, mode='1'):
  """PNG bytes of a bool/0-1 array with 1 = ink, white background."""
  white = np.logical_not(ink)
  img = Image.fromarray(white) if mode == '1' else Image.fromarray(
      white.astype(np.uint8) * 255, mode=mode)
  buf = io.BytesIO()
  img.save(buf, format='PNG')
  return buf.getvalue()


def _ink(rng, n=omniglot.DRAWERS, shape=(_S, _S)):
  return (rng.random((n,) + shape) < 0.1).astype(np.uint8)


def _write_zip(path, files, dirs=True):
  """Writes {entry: bytes} (stored, uncompressed) with directory entries."""
  with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as zf:
    if dirs:
      folders = set()
      for entry in files:
        parts = entry.split('/')[:-1]
        for i in range(1, len(parts) + 1):
          folders.add('/'.join(parts[:i]) + '/')
      for folder in sorted(folders):
        zf.writestr(folder, b'')
    for entry, data in files.items():
      zf.writestr(entry, data)
  return path


def _character_files(top, name, ink, number=1, order=None):
  """{entry: PNG} of one character, files NNNN_DD.png, in `order`."""
  order = range(len(ink)) if order is None else order
  return {f'{top}/{name}/{number:04d}_{d + 1:02d}.png': _png(ink[d])
          for d in order}


class TinyData:
  """Two tiny zips in `folder`: 3 background and 2 evaluation characters."""

  BACKGROUND = ('Alpha/character01', 'Alpha/character02', 'Beta/character01')
  EVALUATION = ('Gamma/character01', 'Gamma/character02')
  SPLIT = {'train': ('Alpha/character01', 'Alpha/character02',
                     'Gamma/character01'),
           'test': ('Beta/character01', 'Gamma/character02')}

  def __init__(self, folder, seed=0):
    self.folder = folder
    rng = np.random.default_rng(seed)
    self.ink = {}
    for zip_name, names in ((omniglot.BACKGROUND, self.BACKGROUND),
                            (omniglot.EVALUATION, self.EVALUATION)):
      top = zip_name[:-len('.zip')]
      files = {}
      for number, name in enumerate(names, start=1):
        self.ink[name] = _ink(rng)
        # Written in shuffled order: drawers must come back sorted.
        files.update(_character_files(top, name, self.ink[name], number,
                                      order=rng.permutation(20)))
      _write_zip(os.path.join(folder, zip_name), files)

  def path(self, zip_name):
    return os.path.join(self.folder, zip_name)


class RealDataTest(parameterized.TestCase):
  """The real zips, loaded once."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    if _MISSING:
      raise absltest.SkipTest(_SKIP_REASON)
    cls.data = omniglot.load(_DATA)
    cls.counts = {z: _characters_in(os.path.join(_DATA, z)) for z in _ZIPS}

  def test_zips_hold_964_and_659_characters_of_20_images(self):
    self.assertLen(self.counts[omniglot.BACKGROUND], 964)
    self.assertLen(self.counts[omniglot.EVALUATION], 659)
    for counts in self.counts.values():
      self.assertEqual(set(counts.values()), {omniglot.DRAWERS})
    both = set(self.counts[omniglot.BACKGROUND]) | set(
        self.counts[omniglot.EVALUATION])
    self.assertEqual(set(self.data.classes), both)

  def test_shapes_dtypes_and_binary_values(self):
    d = self.data
    self.assertIsInstance(d, omniglot.Omniglot)
    self.assertEqual(d.images.shape, (1623, 20, 105, 105))
    self.assertEqual(d.images.dtype, np.uint8)
    self.assertEqual((d.train.dtype, d.test.dtype), (np.int32, np.int32))
    self.assertEqual(d.train.shape, (omniglot.NUM_TRAIN_CLASSES,))
    self.assertEqual(d.test.shape, (omniglot.NUM_TEST_CLASSES,))
    self.assertLen(d.classes, 1623)
    # uint8 in {0, 1}: min 0 and max 1 (np.unique would sort 358 MB).
    self.assertEqual((int(d.images.min()), int(d.images.max())), (0, 1))

  def test_ink_is_a_minority_of_every_image(self):
    ink = self.data.images.mean(axis=(2, 3), dtype=np.float32)
    self.assertBetween(float(ink.mean()), 0.03, 0.15)  # about 0.08
    self.assertGreater(float(ink.min()), 0.0)
    self.assertLess(float(ink.max()), 0.5)

  def test_pixels_match_pillow_ink_is_black(self):
    name = 'Angelic/character01'
    with zipfile.ZipFile(os.path.join(_DATA, omniglot.EVALUATION)) as zf:
      entry = f'images_evaluation/{name}/0965_07.png'
      with Image.open(io.BytesIO(zf.read(entry))) as img:
        self.assertEqual((img.mode, img.size), ('1', (105, 105)))
        gray = np.asarray(img.convert('L'))
    image = self.data.images[self.data.classes.index(name), 6]
    np.testing.assert_array_equal(image, (gray == 0).astype(np.uint8))

  def test_read_zip_on_real_pngs_equals_load(self):
    tmp = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, tmp)
    names = ('Angelic/character01', 'ULOG/character26')
    with zipfile.ZipFile(os.path.join(_DATA, omniglot.EVALUATION)) as src:
      files = {e: src.read(e) for e in src.namelist()
               if e.endswith('.png') and
               '/'.join(e.split('/')[1:3]) in names}
    got = omniglot.read_zip(_write_zip(os.path.join(tmp, 'x.zip'), files))
    self.assertEqual(tuple(got), names)
    for name in names:
      self.assertEqual(got[name].dtype, np.uint8)
      np.testing.assert_array_equal(
          got[name], self.data.images[self.data.classes.index(name)])

  def test_split_is_1200_423_disjoint_and_covers_all(self):
    d = self.data
    np.testing.assert_array_equal(d.train, np.arange(1200))
    np.testing.assert_array_equal(d.test, np.arange(1200, 1623))
    train = set(d.train.tolist())
    self.assertEmpty(train & set(d.test.tolist()))
    self.assertEqual(train | set(d.test.tolist()), set(range(1623)))
    s = omniglot.split()
    self.assertEqual((len(s['train']), len(s['test'])), (1200, 423))
    self.assertEqual(tuple(d.classes[i] for i in d.train), s['train'])
    self.assertEqual(tuple(d.classes[i] for i in d.test), s['test'])

  def test_split_is_first_1200_of_the_sorted_names(self):
    names = sorted(set(self.counts[omniglot.BACKGROUND]) |
                   set(self.counts[omniglot.EVALUATION]))
    self.assertEqual(self.data.classes, tuple(names))
    s = omniglot.split()
    self.assertEqual(s, {'train': tuple(names[:1200]),
                         'test': tuple(names[1200:])})

  def test_split_is_identical_when_read_again(self):
    first = omniglot.split()
    omniglot._shipped_split.cache_clear()  # read the file again
    self.assertEqual(omniglot.split(), first)
    self.assertIsNot(omniglot.split(), omniglot.split())  # a fresh dict

  def test_split_mixes_background_and_evaluation(self):
    # The counts the module docstring states.
    s = omniglot.split()
    background = set(self.counts[omniglot.BACKGROUND])
    counts = {k: (sum(n in background for n in v),
                  sum(n not in background for n in v)) for k, v in s.items()}
    self.assertEqual(counts, {'train': (780, 420), 'test': (184, 239)})
    self.assertEqual((s['train'][-1], s['test'][0]),
                     ('Mongolian/character26', 'Mongolian/character27'))


class SplitFileTest(parameterized.TestCase):

  def test_shipped_file_lines(self):
    with open(os.path.join(_REPO, 'memax', 'data',
                           'omniglot_split.txt')) as f:
      lines = f.read().split('\n')
    self.assertEqual(lines[-1], '')
    self.assertLen(lines, 1624)
    self.assertEqual(lines[0], 'train\tAlphabet_of_the_Magi/character01')
    self.assertEqual(lines[1199], 'train\tMongolian/character26')
    self.assertEqual(lines[1200], 'test\tMongolian/character27')
    self.assertEqual(lines[-2], 'test\tULOG/character26')

  def test_split_file_is_package_data(self):
    with open(os.path.join(_REPO, 'pyproject.toml'), 'rb') as f:
      setuptools = tomllib.load(f)['tool']['setuptools']
    self.assertIn('omniglot_split.txt',
                  setuptools['package-data']['memax.data'])

  @parameterized.named_parameters(
      ('bad_split', 'val\tA/character01\n', 'line 1'),
      ('no_tab', 'train A/character01\n', 'line 1'),
      ('no_slash', 'train\tcharacter01\n', 'line 1'),
      ('few', 'train\tA/character01\ntest\tB/character01\n',
       'has 1 train and 1 test classes, expected 1200 and 423'))
  def test_malformed_split_file_names_it(self, text, message):
    with self.assertRaisesRegex(ValueError, f'split file /x/s.txt.*{message}'):
      omniglot._parse_split(text, '/x/s.txt')

  def test_unsorted_split_file(self):
    s = omniglot.split()
    names = list(s['train'] + s['test'])
    names[0], names[1] = names[1], names[0]
    text = ''.join(f'{"train" if i < 1200 else "test"}\t{n}\n'
                   for i, n in enumerate(names))
    with self.assertRaisesRegex(ValueError, 'split file /x/s.txt is not the '
                                'sorted list'):
      omniglot._parse_split(text, '/x/s.txt')


class TinyZipTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, self.tmp)
    self.tiny = TinyData(self.tmp)

  def _expect(self, names):
    return np.stack([self.tiny.ink[n] for n in names])

  def test_read_zip(self):
    got = omniglot.read_zip(self.tiny.path(omniglot.BACKGROUND))
    self.assertEqual(tuple(got), TinyData.BACKGROUND)
    for name, images in got.items():
      self.assertEqual((images.shape, images.dtype), ((20, 105, 105),
                                                      np.uint8))
      # Drawers in file-name order although the zip is shuffled.
      np.testing.assert_array_equal(images, self.tiny.ink[name])

  def test_load_with_a_custom_split(self):
    d = omniglot.load(self.tmp, split_names=TinyData.SPLIT)
    classes = tuple(sorted(TinyData.BACKGROUND + TinyData.EVALUATION))
    self.assertEqual(d.classes, classes)
    np.testing.assert_array_equal(d.images, self._expect(classes))
    self.assertEqual(d.train.tolist(), [0, 1, 3])
    self.assertEqual(d.test.tolist(), [2, 4])
    self.assertEqual((d.train.dtype, d.test.dtype), (np.int32, np.int32))

  def test_split_names_may_be_unsorted_lists(self):
    d = omniglot.load(self.tmp, split_names={
        'test': ['Gamma/character02', 'Beta/character01'],
        'train': ['Gamma/character01', 'Alpha/character02',
                  'Alpha/character01']})
    self.assertEqual((d.train.tolist(), d.test.tolist()), ([0, 1, 3], [2, 4]))

  def test_other_image_modes_are_thresholded(self):
    ink = _ink(np.random.default_rng(1))
    files = {f'top/A/character01/{d:02d}.png': _png(ink[d], mode='L')
             for d in range(20)}
    got = omniglot.read_zip(_write_zip(os.path.join(self.tmp, 'l.zip'),
                                       files))
    np.testing.assert_array_equal(got['A/character01'], ink)

  def test_finder_metadata_is_ignored(self):
    path = self.tiny.path(omniglot.BACKGROUND)
    with zipfile.ZipFile(path, 'a') as zf:
      zf.writestr('__MACOSX/images_background/._Alpha', b'junk')
      zf.writestr('images_background/Alpha/.DS_Store', b'junk')
    self.assertLen(omniglot.read_zip(path), 3)

  # Bad input: every error names the file.

  def test_missing_folder(self):
    missing = os.path.join(self.tmp, 'nope')
    with self.assertRaisesRegex(FileNotFoundError,
                                f'Omniglot folder {missing} does not exist'):
      omniglot.load(missing)

  def test_path_is_a_zip_not_a_folder(self):
    path = self.tiny.path(omniglot.BACKGROUND)
    with self.assertRaisesRegex(ValueError, f'{path} is a file, not a '
                                'folder'):
      omniglot.load(path)

  @parameterized.parameters(*_ZIPS)
  def test_missing_zip(self, name):
    os.remove(self.tiny.path(name))
    message = f'Omniglot zip {self.tiny.path(name)} does not exist'
    with self.assertRaisesRegex(FileNotFoundError, message):
      omniglot.load(self.tmp, split_names=TinyData.SPLIT)
    with self.assertRaisesRegex(FileNotFoundError, message):
      omniglot.read_zip(self.tiny.path(name))

  def test_random_bytes_are_not_a_zip(self):
    path = self.tiny.path(omniglot.EVALUATION)
    with open(path, 'wb') as f:
      f.write(np.random.default_rng(0).bytes(5000))
    message = (f'Omniglot zip {path} is not a zip file or is corrupt '
               r'\(BadZipFile')
    with self.assertRaisesRegex(ValueError, message):
      omniglot.load(self.tmp, split_names=TinyData.SPLIT)
    with self.assertRaisesRegex(ValueError, message):
      omniglot.read_zip(path)

  def test_truncated_zip(self):
    path = self.tiny.path(omniglot.BACKGROUND)
    with open(path, 'rb') as f:
      data = f.read()
    with open(path, 'wb') as f:
      f.write(data[:len(data) // 2])
    with self.assertRaisesRegex(ValueError, f'Omniglot zip {path} is not a '
                                'zip file or is corrupt'):
      omniglot.read_zip(path)

  def test_bad_crc_names_zip_and_entry(self):
    path = self.tiny.path(omniglot.BACKGROUND)
    entry = 'images_background/Beta/character01/0003_05.png'
    with zipfile.ZipFile(path) as zf:
      info = zf.getinfo(entry)
    with open(path, 'r+b') as f:
      # Stored entries: the PNG bytes follow the local header. Flip one
      # byte in the middle of the PNG.
      f.seek(info.header_offset + 30 + len(entry.encode()) +
             info.file_size // 2)
      byte = f.read(1)
      f.seek(-1, os.SEEK_CUR)
      f.write(bytes([byte[0] ^ 0xFF]))
    with self.assertRaisesRegex(ValueError, f'Omniglot zip {path}: cannot '
                                f'read entry {entry} .*CRC'):
      omniglot.read_zip(path)
    with self.assertRaisesRegex(ValueError, f'{path}: cannot read entry '
                                f'{entry}'):
      omniglot.load(self.tmp, split_names=TinyData.SPLIT)

  def _rewrite(self, zip_name, change):
    """Rewrites a tiny zip with `change(files)` applied to {entry: bytes}."""
    path = self.tiny.path(zip_name)
    with zipfile.ZipFile(path) as zf:
      files = {e: zf.read(e) for e in zf.namelist() if not e.endswith('/')}
    change(files)
    _write_zip(path, files)
    return path

  def test_undecodable_png(self):
    entry = 'images_evaluation/Gamma/character02/0002_03.png'

    def change(files):
      files[entry] = files[entry][:40]  # a PNG cut short
    path = self._rewrite(omniglot.EVALUATION, change)
    with self.assertRaisesRegex(ValueError, f'Omniglot zip {path}: entry '
                                f'{entry} is not a readable PNG'):
      omniglot.read_zip(path)

  def test_not_a_png_at_all(self):
    entry = 'images_evaluation/Gamma/character02/0002_03.png'

    def change(files):
      files[entry] = b'hello, world'
    path = self._rewrite(omniglot.EVALUATION, change)
    with self.assertRaisesRegex(ValueError, f'{path}: entry {entry} is not a '
                                'readable PNG'):
      omniglot.load(self.tmp, split_names=TinyData.SPLIT)

  def test_png_of_the_wrong_size(self):
    entry = 'images_background/Alpha/character02/0002_20.png'

    def change(files):
      files[entry] = _png(np.zeros((105, 104), np.uint8))
    path = self._rewrite(omniglot.BACKGROUND, change)
    with self.assertRaisesRegex(ValueError, f'Omniglot zip {path}: entry '
                                f'{entry} is 104x105 pixels, expected '
                                '105x105'):
      omniglot.read_zip(path)

  def test_character_with_19_images(self):
    def change(files):
      del files['images_background/Beta/character01/0003_11.png']
    path = self._rewrite(omniglot.BACKGROUND, change)
    message = (f'Omniglot zip {path}: character Beta/character01 has 19 '
               'images, expected 20')
    with self.assertRaisesRegex(ValueError, message):
      omniglot.read_zip(path)
    with self.assertRaisesRegex(ValueError, message):
      omniglot.load(self.tmp, split_names=TinyData.SPLIT)

  def test_empty_character_folder(self):
    path = self.tiny.path(omniglot.BACKGROUND)
    with zipfile.ZipFile(path, 'a') as zf:
      zf.writestr('images_background/Beta/character02/', b'')
    with self.assertRaisesRegex(ValueError, f'{path}: character '
                                'Beta/character02 has 0 images'):
      omniglot.read_zip(path)

  def test_entry_off_the_layout(self):
    def change(files):
      files['images_background/Alpha/notes.txt'] = b'hi'
    path = self._rewrite(omniglot.BACKGROUND, change)
    with self.assertRaisesRegex(ValueError, f'Omniglot zip {path}: '
                                "unexpected entry 'images_background/Alpha/"
                                "notes.txt'"):
      omniglot.read_zip(path)

  def test_zip_without_characters(self):
    path = _write_zip(os.path.join(self.tmp, 'empty.zip'), {})
    with self.assertRaisesRegex(ValueError, f'{path} holds no character'):
      omniglot.read_zip(path)

  def test_extra_character_names_its_zip(self):
    rng = np.random.default_rng(3)

    def change(files):
      files.update(_character_files('images_evaluation', 'Gamma/character03',
                                    _ink(rng), 9))
    path = self._rewrite(omniglot.EVALUATION, change)
    with self.assertRaisesRegex(
        ValueError, f'Omniglot zip {path} holds character Gamma/character03, '
        r'which is not in split_names \(1 unexpected'):
      omniglot.load(self.tmp, split_names=TinyData.SPLIT)

  def test_missing_character_names_the_zip_of_its_alphabet(self):
    def change(files):
      for entry in list(files):
        if '/Alpha/character02/' in entry:
          del files[entry]
    path = self._rewrite(omniglot.BACKGROUND, change)
    with self.assertRaisesRegex(
        ValueError, 'Omniglot character Alpha/character02 of split_names is '
        f'missing from {path}, which holds other Alpha characters'):
      omniglot.load(self.tmp, split_names=TinyData.SPLIT)

  def test_missing_alphabet_names_the_folder(self):
    split = {'train': TinyData.SPLIT['train'] + ('Delta/character01',),
             'test': TinyData.SPLIT['test']}
    with self.assertRaisesRegex(
        ValueError, 'Omniglot character Delta/character01 of split_names is '
        f'missing from folder {self.tmp} \\(no Delta characters'):
      omniglot.load(self.tmp, split_names=split)

  def test_shipped_split_mismatch_names_the_split_file(self):
    # The tiny zips are not the real ones: the first unexpected character
    # (in sorted order) is reported against the shipped split.
    with self.assertRaisesRegex(
        ValueError, f'Omniglot zip {self.tiny.path(omniglot.BACKGROUND)} '
        'holds character Alpha/character01, which is not in the shipped '
        'split .*omniglot_split.txt'):
      omniglot.load(self.tmp)

  def test_character_in_both_zips(self):
    rng = np.random.default_rng(4)

    def change(files):
      files.update(_character_files('images_evaluation', 'Alpha/character01',
                                    _ink(rng)))
    path = self._rewrite(omniglot.EVALUATION, change)
    with self.assertRaisesRegex(
        ValueError, 'Omniglot character Alpha/character01 is in both '
        f'{self.tiny.path(omniglot.BACKGROUND)} and {path}'):
      omniglot.load(self.tmp, split_names=TinyData.SPLIT)

  @parameterized.named_parameters(
      ('no_test', {'train': ['Alpha/character01']}, "keys 'train' and 'test'"),
      ('string', {'train': 'Alpha/character01', 'test': []}, 'the string'),
      ('bad_name', {'train': ['Alpha'], 'test': []}, "holds 'Alpha'"),
      ('duplicate', {'train': ['A/c', 'A/c'], 'test': []}, 'duplicates'),
      ('both', {'train': ['A/c'], 'test': ['A/c']}, 'A/c in both'),
      ('empty', {'train': [], 'test': []}, 'is empty'))
  def test_bad_split_names(self, split_names, message):
    with self.assertRaisesRegex(ValueError, f'split_names.*{message}'):
      omniglot.load(self.tmp, split_names=split_names)

  def test_default_path(self):
    with mock.patch.dict(os.environ, {omniglot.ENV_VAR: self.tmp}):
      self.assertEqual(omniglot.default_path(), self.tmp)
      d = omniglot.load(split_names=TinyData.SPLIT)
      self.assertLen(d.classes, 5)
    missing = os.path.join(self.tmp, 'x')
    with (mock.patch.dict(os.environ, {omniglot.ENV_VAR: missing}),
          self.assertRaisesRegex(FileNotFoundError,
                                 f'{omniglot.ENV_VAR}=.*does not exist')):
      omniglot.default_path()
    cwd = os.getcwd()
    os.makedirs(os.path.join(self.tmp, 'a'))
    try:
      os.chdir(os.path.join(self.tmp, 'a'))
      with mock.patch.dict(os.environ, {omniglot.ENV_VAR: ''}):
        with self.assertRaisesRegex(
            FileNotFoundError, 'config.task.data_dir .*MEMAX_OMNIGLOT_DIR'):
          omniglot.default_path()
        shared = os.path.join(self.tmp, 'shared', 'data', 'omniglot')
        os.makedirs(shared)
        self.assertEqual(os.path.realpath(omniglot.default_path()),
                         os.path.realpath(shared))
    finally:
      os.chdir(cwd)


def _tfds_missing():
  return importlib.util.find_spec('tensorflow_datasets') is None


class TfdsTest(absltest.TestCase):

  def test_importing_omniglot_does_not_import_tfds(self):
    code = ('import sys, memax.data.omniglot; '
            'print("tensorflow_datasets" in sys.modules, '
            '"tensorflow" in sys.modules)')
    out = subprocess.run([sys.executable, '-c', code], check=True,
                         capture_output=True, text=True, cwd=_REPO)
    self.assertEqual(out.stdout.split(), ['False', 'False'])

  def _read_back(self, builder):
    source = builder.as_data_source()
    return {split: [source[split][i] for i in range(len(source[split]))]
            for split in source}

  def _assert_equals_load(self, records, data):
    for split in ('train', 'test'):
      classes = getattr(data, split)
      got = records[split]
      self.assertLen(got, len(classes) * omniglot.DRAWERS)
      images = np.stack([r['image'] for r in got])
      self.assertEqual(images.dtype, np.uint8)
      np.testing.assert_array_equal(
          images, data.images[classes].reshape(-1, 105, 105))
      labels = np.repeat(classes, omniglot.DRAWERS)
      self.assertEqual([r['label'] for r in got], labels.tolist())
      self.assertEqual([r['drawer'] for r in got],
                       list(range(20)) * len(classes))
      self.assertEqual([r['character'].decode() for r in got],
                       [data.classes[i] for i in labels])
      self.assertEqual([r['alphabet'].decode() for r in got],
                       [data.classes[i].split('/')[0] for i in labels])

  @absltest.skipIf(_tfds_missing(), 'tensorflow_datasets is not installed')
  def test_builder_writes_array_record_and_reads_back_load(self):
    from memax.data import omniglot_tfds  # pylint: disable=g-import-not-at-top
    tmp = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, tmp)
    zips = os.path.join(tmp, 'zips')
    os.makedirs(zips)
    TinyData(zips)
    builder = omniglot_tfds.MemaxOmniglot(
        data_dir=os.path.join(tmp, 'tfds'), omniglot_path=zips,
        split_names=TinyData.SPLIT, file_format='array_record')
    builder.download_and_prepare()
    self.assertTrue(any('.array_record-' in f
                        for f in os.listdir(builder.data_dir)))
    data = omniglot.load(zips, split_names=TinyData.SPLIT)
    self._assert_equals_load(self._read_back(builder), data)
    self.assertEqual(builder.info.features['label'].names,
                     list(data.classes))
    if importlib.util.find_spec('tensorflow') is None:
      self.assertNotIn('tensorflow', sys.modules)

  @absltest.skipIf(_tfds_missing(), 'tensorflow_datasets is not installed')
  def test_builder_downloads_only_when_asked(self):
    from memax.data import omniglot_tfds  # pylint: disable=g-import-not-at-top
    tmp = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, tmp)
    zips = os.path.join(tmp, 'zips')
    os.makedirs(zips)
    TinyData(zips)
    # Downloads land under other names.
    downloaded = {}
    for name in _ZIPS:
      downloaded[name] = os.path.join(tmp, f'hash_{name}.tmp')
      shutil.copy(os.path.join(zips, name), downloaded[name])

    asked = []

    def download(self, urls):
      del self  # the DownloadManager
      asked.append(urls)
      return {k: downloaded[k] for k in urls}
    with mock.patch.object(omniglot_tfds.tfds.download.DownloadManager,
                           'download', download), \
        mock.patch.dict(os.environ, {omniglot.ENV_VAR: os.path.join(
            tmp, 'unset')}):
      builder = omniglot_tfds.MemaxOmniglot(
          data_dir=os.path.join(tmp, 'tfds'), download=True,
          split_names=TinyData.SPLIT, file_format='array_record')
      builder.download_and_prepare()
      data = omniglot.load(zips, split_names=TinyData.SPLIT)
      self._assert_equals_load(self._read_back(builder), data)
      self.assertEqual(asked, [dict(omniglot_tfds.URLS)])
      # Without download=True (and no manual dir) it looks for
      # MEMAX_OMNIGLOT_DIR, which does not exist here.
      other = omniglot_tfds.MemaxOmniglot(
          data_dir=os.path.join(tmp, 'tfds2'), split_names=TinyData.SPLIT,
          file_format='array_record')
      with self.assertRaisesRegex(FileNotFoundError, omniglot.ENV_VAR):
        other.download_and_prepare()


if __name__ == '__main__':
  absltest.main()
