"""The launchers' errors for a bad `--config` or override: one line, the
flag named, no traceback, nothing written."""

import os
import subprocess
import sys
import tempfile

from absl.testing import absltest
from absl.testing import parameterized

from memax import cli

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ConfigFlagErrorTest(absltest.TestCase):

  def test_an_unknown_field_names_its_flag_and_the_hint(self):
    # As ml_collections raises it: a KeyError inside an AttributeError.
    error = AttributeError(KeyError(
        "'keep_checkpoints'\nDid you mean \"max_checkpoints\" instead of "
        '"keep_checkpoints"?'))
    argv = ['main.py', '--config=configs/ntm_copy.py',
            '--config.train.keep_checkpoints=3']
    self.assertEqual(
        cli.config_flag_error(error, argv),
        "--config.train.keep_checkpoints: the config has no field "
        "'keep_checkpoints' (did you mean 'max_checkpoints'?).")
    self.assertEqual(
        cli.config_flag_error(KeyError("'x'"), ['main.py']),
        "--config.<...>.x: the config has no field 'x'.")

  def test_a_missing_file_and_a_quoted_traceback(self):
    missing = OSError('Failed loading config file config_config\n  '
                      "[Errno 2] No such file or directory: 'configs/a.py'")
    self.assertIn('--config=configs/a.py: no such config file',
                  cli.config_flag_error(missing, ['m', '--config=configs/a.py']))
    quoted = ValueError(
        'flag --config=configs/c.py:set=xx: Error whilst parsing config '
        'file:\n\nTraceback (most recent call last):\n  File "x.py", line 1\n'
        "ValueError: configs/c.py: set='xx'; expected 'en'.")
    self.assertEqual(cli._flag_error(quoted),
                     "flag --config=configs/c.py:set=xx: ValueError: "
                     "configs/c.py: set='xx'; expected 'en'.")


class LauncherTest(parameterized.TestCase):

  @parameterized.parameters(
      ('main', ['--config=configs/ntm_copy.py',
                '--config.train.keep_checkpoints=3'],
       "memax.main: --config.train.keep_checkpoints: the config has no "
       "field 'keep_checkpoints' (did you mean 'max_checkpoints'?)."),
      ('sweep', ['--config=configs/ntm_cpy.py'],
       'memax.sweep: --config=configs/ntm_cpy.py: no such config file'),
      ('main', ['--config=configs/dnc_babi_words.py:set=xx'],
       "set='xx'; expected 'en' or 'en-10k'."),
      ('sweep', ['--config=configs/ntm_copy.py',
                 '--config.train.num_steps=abc'],
       "flag --config.train.num_steps=abc: invalid literal for int()"))
  def test_bad_config_flags_exit_with_one_line(self, launcher, args, message):
    with tempfile.TemporaryDirectory() as tmp:
      workdir = os.path.join(tmp, 'run')
      proc = subprocess.run(
          [sys.executable, '-m', f'memax.{launcher}', *args,
           f'--workdir={workdir}'], capture_output=True, text=True,
          cwd=_ROOT, env=dict(os.environ, PYTHONPATH=_ROOT), timeout=120)
      self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
      self.assertIn(message, proc.stderr)
      self.assertNotIn('Traceback', proc.stderr)
      self.assertFalse(os.path.exists(workdir))



class RunOutputsTest(absltest.TestCase):

  def test_lists_only_what_the_run_left(self):
    with tempfile.TemporaryDirectory() as tmp:
      self.assertEqual(cli.run_outputs(tmp), ['metrics.jsonl'])
      os.makedirs(os.path.join(tmp, 'eval'))
      os.makedirs(os.path.join(tmp, 'plots'))  # empty: no plot drawn.
      open(os.path.join(tmp, 'eval', 'test.json'), 'w').close()
      self.assertEqual(cli.run_outputs(tmp), ['metrics.jsonl', 'eval/*.json'])
      open(os.path.join(tmp, 'plots', 'test.png'), 'w').close()
      self.assertEqual(cli.run_outputs(tmp),
                       ['metrics.jsonl', 'eval/*.json', 'plots/*.png'])

if __name__ == '__main__':
  absltest.main()
