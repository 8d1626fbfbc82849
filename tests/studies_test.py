"""Studies: results files, the tables built from them, the committed READMEs."""

import glob
import json
import os
import subprocess
import sys
import tempfile

from absl.testing import absltest

from memax import studies

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_READMES = sorted(glob.glob(os.path.join(_ROOT, 'experiments', '*',
                                         'README.md')))


def _babi_row(study, seed, test, valid, train=None, task=None, **extra):
  """A trial whose per-task test errors are `test` (task id -> error)."""
  metrics = {f'test/error_task_{t}': e for t, e in test.items()}
  metrics['test/error'] = sum(test.values()) / len(test)
  metrics['valid/error'] = valid
  for t, e in (train or {}).items():
    metrics[f'train/error_task_{t}'] = e
  if task is not None:
    metrics['train/error'] = (train or {}).get(task, 0.0)
  settings = {'seed': seed}
  if task is not None:
    settings = {'task.tasks': task, 'seed': seed}
  return {'study': study, 'trial': f'{study}_{seed}_{task}',
          'config': 'configs/memn2n_babi.py:' + (
              'each_task' if task is not None else 'tasks=0'),
          'settings': {**settings, **extra}, 'seed': seed,
          'commit': 'abc1234', 'status': 'done', 'epochs': 60.0,
          'wall_seconds': 100.0 + seed, 'shared_by': 1, 'metrics': metrics}


def _joint():
  # Two seeds over three tasks; seed 1 has the lower validation error.
  return [_babi_row('j', 0, {1: 0.0, 2: 0.10, 3: 0.30}, valid=0.2,
                    train={1: 0.0, 2: 0.02, 3: 0.1}),
          _babi_row('j', 1, {1: 0.02, 2: 0.04, 3: 0.50}, valid=0.1,
                    train={1: 0.0, 2: 0.04, 3: 0.3})]


def _single(study, errors):
  """`errors[seed][task] = (test, valid)`: one model per task."""
  return [_babi_row(study, seed, {task: test}, valid=valid, task=task,
                    train={task: test / 2})
          for seed, per_task in enumerate(errors)
          for task, (test, valid) in per_task.items()]


def _table(lines, first_cell):
  row = next(line for line in lines if line.startswith(f'| {first_cell} |'))
  return [c.strip() for c in row.strip('|').split('|')]


class TablesTest(absltest.TestCase):

  def test_per_task_table_of_a_joint_study(self):
    lines = studies.babi_tasks({'j': _joint()}, ['j'], [])
    self.assertIn('2 seeds (0-1), epochs 60, 100-101 s each, commit abc1234',
                  lines[0])
    # mean, min-max over seeds, and seed 1 (the lower validation error).
    self.assertEqual(_table(lines, '2'), ['2', '7.0', '4.0-10.0', '4.0'])
    self.assertEqual(_table(lines, '3'), ['3', '40.0', '30.0-50.0', '50.0'])
    # Per-seed means 13.3 and 18.7; failed (> 5 %): 2 and 1.
    self.assertEqual(_table(lines, '**mean error**'),
                     ['**mean error**', '16.0', '13.3-18.7', '18.7'])
    self.assertEqual(_table(lines, '**failed (> 5 %)**'),
                     ['**failed (> 5 %)**', '1.5', '1-2', '1'])

  def test_one_model_per_task_picks_per_task_and_pick_across_studies(self):
    a = _single('a', [{1: (0.0, 0.3), 2: (0.2, 0.1)},
                      {1: (0.1, 0.2), 2: (0.4, 0.3)}])
    b = _single('b', [{1: (0.06, 0.1), 2: (0.3, 0.05)}])
    lines = studies.babi_tasks({'a': a}, ['a'], [])
    self.assertIn('(one model per task): 2 seeds (0-1)', lines[0])
    self.assertIn('200-202 s for its 2 tasks', lines[0])
    self.assertEqual(_table(lines, '1'), ['1', '5.0', '0.0-10.0', '10.0'])
    self.assertEqual(_table(lines, '2'), ['2', '30.0', '20.0-40.0', '20.0'])
    picks = studies.babi_pick({'a': a, 'b': b}, ['a', 'b'], [])
    self.assertEqual(_table(picks, '1'), ['1', 'b seed0', '6.0'])
    self.assertEqual(_table(picks, '2'), ['2', 'b seed0', '30.0'])
    self.assertEqual(_table(picks, '**failed (> 5 %)**'),
                     ['**failed (> 5 %)**', '', '2'])
    row = studies.babi_summary(
        {'a': a, 'b': b}, [], ['a+b | pick | `a+b` | 1 %'])[-2]
    self.assertEqual(row, '| pick | `a+b` | 2 + 1 | 60 | - | 18.0 % | '
                     '2 (tasks 1, 2) | - | 1 % |')

  def test_one_model_per_task_counts_only_seeds_with_every_task(self):
    # Seed 1 has task 1 only: it is left out of the means and the wall,
    # and seed 2's row is not paired with seed 1's.
    a = _single('a', [{1: (0.0, 0.3), 2: (0.2, 0.1)}, {1: (0.5, 0.2)},
                      {1: (0.1, 0.2), 2: (0.4, 0.3)}])
    lines = studies.babi_tasks({'a': a}, ['a'], [])
    self.assertIn('(one model per task): 2 seeds (0, 2)', lines[0])
    self.assertIn('200-204 s for its 2 tasks', lines[0])
    # The per-task pick on validation still sees every run (seed 1 wins 1).
    self.assertEqual(_table(lines, '1'), ['1', '5.0', '0.0-10.0', '50.0'])
    self.assertEqual(_table(lines, '2'), ['2', '30.0', '20.0-40.0', '20.0'])

  def test_runs_side_by_side_one_column_per_trial(self):
    a = [_babi_row('a', 0, {1: 0.0, 2: 0.10}, valid=0.2,
                   **{'train.refresh_probability': 0.1}),
         _babi_row('a', 0, {1: 0.04, 2: 0.30}, valid=0.3,
                   **{'train.refresh_probability': 0.0})]
    a[0]['metrics']['train/error'] = 0.01
    started = dict(a[0], status='started', metrics={})
    b = [_babi_row('b', 2, {1: 0.5, 3: 0.02}, valid=0.4), started]
    lines = studies.babi_runs({'a': a, 'b': b}, [],
                              ['a | DAM', 'b | DNC'])
    # Sorted by settings: p_re 0.0 first; the unfinished trial left out.
    self.assertEqual(lines[0], '| task | DAM, refresh_probability=0.0, '
                     'seed 0 | DAM, refresh_probability=0.1, seed 0 | '
                     'DNC, seed 2 |')
    self.assertEqual(_table(lines, '2'), ['2', '30.0', '10.0', '-'])
    self.assertEqual(_table(lines, '3'), ['3', '-', '-', '2.0'])
    self.assertEqual(_table(lines, '**mean test error**'),
                     ['**mean test error**', '17.0', '5.0', '26.0'])
    self.assertEqual(_table(lines, '**failed (> 5 %)**'),
                     ['**failed (> 5 %)**', '1', '1', '1'])
    self.assertEqual(_table(lines, 'valid error'),
                     ['valid error', '30.0', '20.0', '40.0'])
    self.assertEqual(_table(lines, 'train error'),
                     ['train error', '-', '1.0', '-'])
    self.assertEqual(studies.babi_runs({'b': [started]}, [], ['b | DNC']),
                     ['No finished trial.', ''])

  def test_summary_and_cells(self):
    studies_ = {'j': _joint()}
    row = studies.babi_summary(studies_, [], ['j | joint | `j` | 12 %'])[-2]
    self.assertEqual(row, '| joint | `j` | 2 | 60 | 100-101 s | 16.0 % '
                     '(13.3-18.7) | 1.5 | 18.7 % / 1 | 12 % |')
    lines = studies.cells(studies_, [], [
        'what | value', 'task 3 | j:3', 'task 2, test | j:2:test',
        'mean | j:mean', 'failed | j:failed', 'by seed | j:test/error@3',
        'text | not run'])
    self.assertEqual(_table(lines, 'task 3')[1], '40.0 % (20 %)')
    self.assertEqual(_table(lines, 'task 2, test')[1], '7.0 %')
    self.assertEqual(_table(lines, 'mean')[1], '16.0 % (13.3-18.7)')
    self.assertEqual(_table(lines, 'failed')[1], '1.5')
    self.assertEqual(_table(lines, 'by seed')[1], '0.133, 0.187')
    self.assertEqual(_table(lines, 'text')[1], 'not run')

  def test_commands_from_a_study(self):
    rows = _single('a', [{15: (0.1, 0.1)}])
    for r in rows:
      r['settings']['optimizer.learning_rate'] = 0.01
    self.assertEqual(
        studies.command(rows, 'a'),
        'python -m memax.sweep --config=configs/memn2n_babi.py:tasks=15,'
        'seeds=1 --workdir=$RUNS/a --config.optimizer.learning_rate=0.01')
    joint = _joint()
    joint[1]['settings']['train.num_steps'] = 5  # one trial's own setting
    for r in joint:
      r['settings']['model.mask_empty_slots'] = True
    self.assertEqual(
        studies.command(joint, 'j'),
        'python -m memax.sweep --config=configs/memn2n_babi.py:tasks=0,'
        'seeds=2 --workdir=$RUNS/j --config.model.mask_empty_slots=true')
    # A sweep launched with `seeds=N` in its argument: N from the file.
    for r in joint:
      r['config'] = 'configs/memn2n_babi.py:seeds=5,tasks=0'
    self.assertStartsWith(
        studies.command(joint, 'j'),
        'python -m memax.sweep --config=configs/memn2n_babi.py:tasks=0,'
        'seeds=2 ')

  def test_compare_two_studies_seed_by_seed(self):
    a = _joint()
    b = json.loads(json.dumps(a))
    b[1]['metrics']['test/error'] = 0.5
    lines = studies.compare({'a': a, 'b': b}, ['a', 'b', 'test/error'], [])
    self.assertEqual(_table(lines, '0'), ['0', '0.1333', '0.1333', 'yes'])
    self.assertEqual(_table(lines, '1'), ['1', '0.1867', '0.5', 'no'])
    self.assertIn('Equal in 1 of the 2 seeds in both.', lines)
    # A seed that only one study ran is not counted as a difference.
    lines = studies.compare({'a': a, 'b': b[:1]}, ['a', 'b', 'test/error'],
                            [])
    self.assertEqual(_table(lines, '1'), ['1', '0.1867', '-', '-'])
    self.assertIn('Equal in 1 of the 1 seeds in both (1 in one only).', lines)
    # A seed still training in one study is in both, not comparable yet;
    # runs that both diverged (NaN) are equal; two rows of a seed, an error.
    pending = json.loads(json.dumps(b))
    pending[1]['metrics'] = {}
    pending[0]['metrics']['test/error'] = a[0]['metrics']['test/error'] = (
        float('nan'))
    lines = studies.compare({'a': a, 'b': pending},
                            ['a', 'b', 'test/error'], [])
    self.assertEqual(_table(lines, '0'), ['0', 'nan', 'nan', 'yes'])
    self.assertEqual(_table(lines, '1'), ['1', '0.1867', '-', '-'])
    self.assertIn('Equal in 1 of the 2 seeds in both.', lines)
    with self.assertRaisesRegex(ValueError, 'several rows for a seed'):
      studies.compare({'a': a + a, 'b': b}, ['a', 'b', 'test/error'], [])

  def test_algorithmic_tables(self):
    def row(seed, status, metrics, curve=None):
      return {'study': 's', 'settings': {'seed': seed}, 'seed': seed,
              'status': status, 'steps': 1000 * (seed + 1),
              'wall_seconds': 10.0, 'shared_by': 2, 'metrics': metrics,
              'curve': curve}
    rows = [row(0, 'done', {'train/bit_errors': 0.0, 'train/cost_bits': 0.1,
                            'length_40/bit_errors': 2.5,
                            'length_40/cost_bits': 9.0}),
            row(1, 'stopped', {}, {'metric': 'eval/train/bit_errors',
                                   'steps': [1000, 2000],
                                   'values': [30.0, 20.5]})]
    lines = studies.seeds_table({'s': rows}, [], ['s | copy | NTM | b1 | ok'])
    self.assertEqual(lines[-2], '| copy | NTM | b1 | 2 | 1,000, 2,000 | 10 s '
                     'for all 2 (a population) | 0, 20.5 at 2,000 (periodic) '
                     '| length_40: 2.5, - | ok |')
    pending = dict(row(2, 'pending', {}), steps=None, wall_seconds=None)
    lines = studies.seeds_table({'s': rows + [pending]}, [],
                                ['s | copy | NTM | b1 | ok'])
    self.assertEqual(lines[-2], '| copy | NTM | b1 | 2 of 3 | 1,000, 2,000, '
                     '- | 10 s for all 2 (a population) | 0, 20.5 at 2,000 '
                     '(periodic), - | length_40: 2.5, -, - | ok |')
    lines = studies.runs({'s': rows}, ['s'], [])
    self.assertIn('| s | 0 | 1000 | 10 | length_40 | 2.500 | 9.000 |  |',
                  lines)
    self.assertIn('| s | 1 | 2000 | 10 | stopped | | | |', lines)
    lines = studies.curve_table({'s': rows}, ['s', '1000,3000'], [])
    self.assertIn('| s | seed=1 | 30.0 | - | 2,000 | 20.5 |', lines)
    lines = studies.curve_table({'s': rows}, ['s', '1000', 'percent'], [])
    self.assertIn('| s | seed=1 | 3000.0 | 2,000 | 2050.0 |', lines)
    # Settings read as the override flags write them, in both labels.
    flagged = dict(rows[1], settings={'seed': 1, 'optimizer.nesterov': True,
                                      'model.sizes': (2, 3)})
    lines = studies.curve_table({'s': [flagged]}, ['s', '1000'], [])
    self.assertIn('| s | seed=1, optimizer.nesterov=true, model.sizes=2,3 | '
                  '30.0 | 2,000 | 20.5 |', lines)
    self.assertEqual(studies._settings_label(flagged['settings']),
                     'nesterov=true, sizes=2,3')

  def test_evaluations_table_shows_perfect_as_a_percentage(self):
    row = {'study': 'c', 'settings': {'seed': 0}, 'seed': 0, 'status': 'done',
           'steps': 32000, 'metrics': {'train/perfect': 0.98828125},
           'evaluations': [{'name': 'best', 'step': 30000, 'best': True,
                            'overrides': ['evals.plot=False'],
                            'metrics': {'train/perfect': 1.0}}]}
    lines = studies.evaluations_table({'c': [row]}, ['train/perfect'],
                                      ['c | DNC'])
    self.assertEqual(lines[2:4], [
        '| DNC | - | 0 | final evaluation | 32,000 | 98.8 % |',
        '| DNC | - | 0 | the trained config | 30,000 (best) | 100 % |'])

  def test_groups_table_over_seeds(self):
    def row(seed, p, status, errors=None):
      metrics = ({'train/bit_errors': errors, 'length_64/bit_errors':
                  10 * errors} if status == 'done' else {})
      return {'study': 'd', 'seed': seed, 'status': status,
              'settings': {'train.refresh_probability': p, 'seed': seed},
              'steps': 10000, 'wall_seconds': 100.0 + seed,
              'metrics': metrics}
    rows = [row(0, 0.0, 'done', 1.0), row(1, 0.0, 'done', 3.0),
            row(2, 0.0, 'done', 2.0), row(0, 0.1, 'done', 0.5),
            row(1, 0.1, 'running')]
    lines = studies.groups({'d': rows}, ['train/bit_errors,length_64/'
                                         'bit_errors@1'], ['d | DAM'])
    self.assertEqual(lines[0], '| model | settings | seeds | steps | wall | '
                     'train/bit_errors: mean +- sd | best | length_64/'
                     'bit_errors: mean +- sd | best |')
    # Seeds 1, 3, 2: mean 2, sample sd 1; best the smallest.
    self.assertEqual(lines[2], '| DAM | refresh_probability=0.0 | 3 of 3 | '
                     '10,000 | 100-102 s each | 2 +- 1 | 1 | 20 +- 10 | 10 |')
    # One finished seed of two: its value, no sd.
    self.assertEqual(lines[3], '| DAM | refresh_probability=0.1 | 1 of 2 | '
                     '10,000 | 100-101 s each | 0.5 | 0.5 | 5 | 5 |')
    lines = studies.groups({'d': rows[:3]}, ['train/bit_errors', 'max'],
                           ['d | DAM'])
    self.assertEqual(lines[2].split(' | ')[-1], '3 |')
    lines = studies.groups({'d': rows[4:]}, ['train/bit_errors'], ['d | DAM'])
    self.assertEqual(lines[2], '| DAM | refresh_probability=0.1 | 0 of 1 | '
                     '10,000 | 101 s | running |  |')
    # A trial not started yet (a grown sweep's) has no steps to show.
    pending = dict(row(2, 0.1, 'pending'), steps=None, wall_seconds=None)
    lines = studies.groups({'d': [pending]}, ['train/bit_errors'],
                           ['d | DAM'])
    self.assertEqual(lines[2].split(' | ')[3:5], ['-', '-'])

  def test_accuracy_by_instance_table(self):
    def row(seed, status, first, second):
      metrics = ({'test/accuracy_1': first, 'test/accuracy_2': second,
                  'train/accuracy_2': 0.99} if status == 'done' else {})
      return {'study': 'm', 'settings': {'seed': seed}, 'seed': seed,
              'status': status, 'steps': 40000, 'wall_seconds': 600.0,
              'train_seconds': 540.0 if seed else None, 'metrics': metrics}
    rows = [row(0, 'done', 0.3, 0.8), row(1, 'done', 0.4, 0.9),
            row(2, 'running', 0, 0), row(3, 'pending', 0, 0)]
    del rows[3]['steps']  # not started: no steps, no times.
    rows[3]['wall_seconds'] = rows[3]['train_seconds'] = None
    lines = studies.instances({'m': rows}, ['m', 'test', '1,2,10'],
                              ['paper | 36.4 | 82.8 | 98.1'])
    self.assertEqual(lines[0], '| study | seed | steps | wall (min) | '
                     'train (min) | 1st | 2nd | 10th |')
    self.assertIn('| m | 0 | 40,000 | 10 | - | 30.0 | 80.0 | - |', lines)
    self.assertIn('| m | 1 | 40,000 | 10 | 9 | 40.0 | 90.0 | - |', lines)
    self.assertIn('| m | 2 | 40,000 | 10 | 9 | running |  |  |', lines)
    self.assertIn('| m | 3 |  |  |  | pending |  |  |', lines)
    # The mean over the finished seeds only.
    self.assertIn('| m | mean of 2 | | | | 35.0 | 85.0 | - |', lines)
    self.assertIn('| paper | | | | | 36.4 | 82.8 | 98.1 |', lines)

  def test_wall_and_train_time_of_a_run(self):
    def line(step, rate, **extra):
      return {'step': step, 'split': 'train', 'steps_per_sec': rate, **extra}
    # The train time sums each logged interval at its rate; eval lines and
    # a launch's total are not train time.
    lines = [{'step': 0, 'split': 'train', 'loss': 1.0},
             line(100, 10.0), {'step': 100, 'split': 'eval/test'},
             line(300, 4.0)]
    self.assertEqual(studies._times(lines, 200.0),
                     {'wall_seconds': 200.0, 'train_seconds': 60.0})
    # A run that logs its own wall time over all launches: the last line's.
    logged = [line(100, 10.0, wall_seconds=30.0),
              line(300, 4.0, wall_seconds=95.0)]
    self.assertEqual(studies._times(logged, 20.0)['wall_seconds'], 95.0)
    # Train steps longer than the finishing launch: it was resumed, so the
    # launch's time is not the run's.
    self.assertEqual(studies._times(lines, 45.0),
                     {'wall_seconds': None, 'train_seconds': 60.0})
    self.assertEqual(studies._times([], None),
                     {'wall_seconds': None, 'train_seconds': None})
    # A launch that restarted from scratch logs its steps again: each
    # interval counts once, at the later launch's rate.
    restarted = [line(100, 1.0, wall_seconds=100.0),
                 line(100, 10.0, wall_seconds=10.0),
                 line(300, 4.0, wall_seconds=60.0)]
    self.assertEqual(studies._times(restarted, None),
                     {'wall_seconds': 60.0, 'train_seconds': 60.0})
    # Tables say which of the two they show.
    rows = [{'wall_seconds': 200.0, 'train_seconds': 60.0},
            {'wall_seconds': None, 'train_seconds': 90.0}]
    self.assertEqual(studies._wall_text(rows[:1]), '200 s')
    self.assertEqual(studies._wall_text(rows), '60-90 s in train steps each')
    # Runs from before memax recorded either: never shown as 0 s.
    old = [{'wall_seconds': 565.3}, {'wall_seconds': None}]
    self.assertEqual(studies._wall_text(old), '565 s (1 not recorded)')
    self.assertEqual(studies._wall_text(old[1:] * 2), 'not recorded')
    seeds = [{'seed': 0, 'wall_seconds': 5.0}, {'seed': 0, 'wall_seconds': 7.0},
             {'seed': 1, 'wall_seconds': None}]
    self.assertEqual(studies._seed_walls(seeds, [0, 1]), [12.0, None])

  def test_short_numbers_do_not_round_to_zero(self):
    self.assertEqual(studies._short(0.00390625, 2), '0.0039')
    self.assertEqual(studies._short(0.0, 2), '0')
    self.assertEqual(studies._short(0.414, 2), '0.41')
    self.assertEqual(studies._short(5.0, 2), '5')
    self.assertEqual(studies._short(-0.001, 2), '-0.001')
    self.assertEqual(studies._short(100.0, 0), '100')
    self.assertEqual(studies._short(-0.0, 2), '0')


class ReadmeTest(absltest.TestCase):

  def test_blocks_are_rewritten_and_checked(self):
    tmp = self.enterContext(tempfile.TemporaryDirectory())
    os.mkdir(os.path.join(tmp, 'results'))
    studies.write(os.path.join(tmp, 'results', 'j.jsonl'), _joint())
    readme = os.path.join(tmp, 'README.md')
    text = ('# T\n\n<!-- table: babi_tasks j -->\nold\n<!-- end table -->\n'
            'prose stays\n')
    with open(readme, 'w') as f:
      f.write(text)
    self.assertFalse(studies.update_readme(readme, check=True))
    self.assertEqual(open(readme).read(), text)  # --check writes nothing
    self.assertFalse(studies.update_readme(readme))
    new = open(readme).read()
    self.assertNotIn('old', new)
    self.assertIn('| 3 | 40.0 | 30.0-50.0 | 50.0 |', new)
    self.assertIn('prose stays', new)
    self.assertTrue(studies.update_readme(readme, check=True))
    # A results file that changes makes the table stale.
    rows = _joint()
    rows[0]['metrics']['test/error_task_3'] = 0.2
    studies.write(os.path.join(tmp, 'results', 'j.jsonl'), rows)
    self.assertFalse(studies.update_readme(readme, check=True))

  def test_a_table_takes_another_experiments_study(self):
    tmp = self.enterContext(tempfile.TemporaryDirectory())
    for experiment in ('mine', 'other'):
      os.makedirs(os.path.join(tmp, experiment, 'results'))
    studies.write(os.path.join(tmp, 'other', 'results', 'j.jsonl'), _joint())
    block = '<!-- table: babi_tasks {} -->\n<!-- end table -->'
    here = studies.render(block.format('other/j'),
                          os.path.join(tmp, 'mine', 'results'))
    there = studies.render(block.format('j'),
                           os.path.join(tmp, 'other', 'results'))
    self.assertIn('| 3 | 40.0 | 30.0-50.0 | 50.0 |', here)
    self.assertEqual(here.replace('other/j', 'j'), there)
    with self.assertRaisesRegex(FileNotFoundError, 'nope.jsonl'):
      studies.render(block.format('other/nope'),
                     os.path.join(tmp, 'mine', 'results'))

  def test_bad_blocks_and_files_are_clear_errors(self):
    with self.assertRaisesRegex(ValueError, "Table kind 'nope'"):
      studies.render('<!-- table: nope x -->\n<!-- end table -->', '/tmp')
    with self.assertRaisesRegex(FileNotFoundError, 'missing.jsonl'):
      studies.render('<!-- table: babi_tasks missing -->\n<!-- end table -->',
                     '/nonexistent')
    tmp = self.enterContext(tempfile.TemporaryDirectory())
    path = os.path.join(tmp, 'bad.jsonl')
    with open(path, 'w') as f:
      f.write('{"study": "x"}\n')
    with self.assertRaisesRegex(ValueError, r"bad.jsonl:1: the row has no "
                                r"'settings'"):
      studies.load(path)

  def test_the_command_line_names_the_readme_without_a_traceback(self):
    tmp = self.enterContext(tempfile.TemporaryDirectory())
    readme = os.path.join(tmp, 'README.md')
    with open(readme, 'w') as f:
      f.write('<!-- table: babi_tasks nope -->\n<!-- end table -->\n')
    proc = subprocess.run(
        [sys.executable, '-m', 'memax.studies', f'--tables={readme}'],
        cwd=_ROOT, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYTHONPATH=_ROOT))
    self.assertEqual(proc.returncode, 1, proc.stderr)
    self.assertIn(f'memax.studies: {readme}: ', proc.stderr)
    self.assertIn('nope.jsonl: no such results file', proc.stderr)
    self.assertNotIn('Traceback', proc.stderr)

  def test_committed_readmes_match_their_results_files(self):
    # Every table of experiments/*/README.md is what its results files give.
    self.assertLen(_READMES, 5)
    for readme in _READMES:
      self.assertTrue(studies.update_readme(readme, check=True),
                      f'{readme} is stale: python -m memax.studies '
                      f'--tables={os.path.relpath(readme, _ROOT)}')
      for path in glob.glob(os.path.join(os.path.dirname(readme), 'results',
                                         '*.jsonl')):
        rows = studies.load(path)
        self.assertNotEmpty(rows, path)
        name = os.path.basename(path)[:-len('.jsonl')]
        self.assertEqual({r['study'] for r in rows}, {name}, path)


class ExportTest(absltest.TestCase):

  def test_rows_of_a_population_sweep_directory(self):
    # A sweep directory as memax.sweep writes it: two trials, one process.
    tmp = self.enterContext(tempfile.TemporaryDirectory())
    record = {
        'config_file': 'configs/ntm_copy.py', 'executor': 'population',
        'base_overrides': {'train.num_steps': 50}, 'base_flags': [],
        'git': {'commit': 'f' * 40, 'dirty': False},
        'trials': [{'index': i, 'name': f't{i}', 'overrides': {'seed': i},
                    'flags': []} for i in range(2)],
        'jobs': [{'name': 'g000', 'dir': 'groups/g000', 'flags': [],
                  'members': {'t0': 0, 't1': 1}}],
        # As if t1 were added by growing the sweep, at another commit.
        'grown': [{'git': {'commit': 'e' * 40, 'dirty': True},
                   'trials': ['t1']}]}
    with open(os.path.join(tmp, 'sweep.json'), 'w') as f:
      json.dump(record, f)
    run = os.path.join(tmp, 'groups', 'g000')
    for member in range(2):
      os.makedirs(os.path.join(run, 'eval', f'member{member}'))
      with open(os.path.join(run, 'eval', f'member{member}', 'train.json'),
                'w') as f:
        json.dump({'metrics': {'bit_errors': 1.0 / 3 + member,
                               'num_examples': 256}}, f)
    with open(os.path.join(run, 'metrics.jsonl'), 'w') as f:
      for step in (10, 20, 30):
        for member in range(2):
          # Member 0 stops (solved) at step 20; its train lines go on.
          f.write(json.dumps({'step': step, 'split': 'train',
                              'member': member, 'bit_errors': 9}) + '\n')
          if member == 0 and step > 20:
            continue
          f.write(json.dumps({'step': step, 'split': 'eval/train',
                              'member': member,
                              'bit_errors': step + member}) + '\n')
      f.write(json.dumps({'step': 20, 'split': 'status', 'member': 0,
                          'stopped': 1.0}) + '\n')
    os.mkdir(os.path.join(tmp, 'status'))
    with open(os.path.join(tmp, 'status', 'g000.json'), 'w') as f:
      json.dump({'returncode': 0, 'wall_seconds': 12.5}, f)
    # Later evaluations (memax.evaluate) of each member, with a plot beside.
    for member, size in ((1, 256), (0, 64)):
      folder = os.path.join(run, 'evaluations',
                            f'member{member}_step30_model.memory_size-{size}')
      os.makedirs(folder)
      for variant, errors in (('train', 0.5), ('length_40', 2.0 / 3)):
        with open(os.path.join(folder, f'{variant}.json'), 'w') as f:
          json.dump({'checkpoint_step': 30, 'eval_seed': 0, 'best': False,
                     'overrides': [f'model.memory_size={size}',
                                   'evals.plot=False', 'evals.arrays=True'],
                     'member': member, 'variant': variant,
                     'metrics': {'bit_errors': errors + member,
                                 'num_examples': 256}}, f)
      with open(os.path.join(folder, f'{variant}.png'), 'wb') as f:
        f.write(b'not json')

    rows = studies.export(tmp, 'copy', 'eval/train/bit_errors')
    self.assertLen(rows, 2)
    r = rows[1]
    self.assertEqual(r['settings'], {'train.num_steps': 50, 'seed': 1})
    self.assertEqual((r['study'], r['seed'], r['commit'], r['dirty'],
                      r['status']), ('copy', 1, 'eeeeeee', True, 'done'))
    self.assertEqual((rows[0]['commit'], rows[0]['dirty']),
                     ('fffffff', False))
    self.assertEqual((r['steps'], r['wall_seconds'], r['shared_by']),
                     (30, 12.5, 2))
    # The command runs it again as a population, as it was run.
    self.assertEqual(r['executor'], 'population')
    self.assertEqual(
        studies.command(rows, 'copy'),
        'python -m memax.sweep --config=configs/ntm_copy.py:seeds=2 '
        '--workdir=$RUNS/copy --executor=population '
        '--config.train.num_steps=50')
    self.assertEqual(rows[0]['steps'], 20)  # where member 0 stopped
    self.assertEqual(r['metrics'], {'train/bit_errors': 1.33333})
    self.assertEqual(r['curve'], {'metric': 'eval/train/bit_errors',
                                  'steps': [10, 20, 30],
                                  'values': [11, 21, 31]})
    # Each member's own later evaluations, its variants' metrics merged.
    self.assertEqual(r['evaluations'], [{
        'name': 'member1_step30_model.memory_size-256', 'step': 30,
        'overrides': ['model.memory_size=256', 'evals.plot=False',
                      'evals.arrays=True'],
        'seed': 0, 'best': False,
        'metrics': {'length_40/bit_errors': 1.66667,
                    'train/bit_errors': 1.5}}])
    self.assertEqual([e['name'] for e in rows[0]['evaluations']],
                     ['member0_step30_model.memory_size-64'])
    path = os.path.join(tmp, 'copy.jsonl')
    studies.write(path, rows)
    self.assertEqual(studies.load(path), json.loads(json.dumps(rows)))
    # The table: the final evaluation, then each later one.
    lines = studies.evaluations_table(
        {'copy': studies.load(path)},
        ['train/bit_errors,length_40/bit_errors@1'], ['copy | NTM'])
    self.assertEqual(lines[0], '| model | settings | seed | evaluated with '
                     '| step | train/bit_errors | length_40/bit_errors |')
    self.assertEqual(lines[2:6], [
        '| NTM | num_steps=50 | 0 | final evaluation | 20 | 0.33 | - |',
        '| NTM | num_steps=50 | 0 | memory_size=64 | 30 | 0.5 | 0.7 |',
        '| NTM | num_steps=50 | 1 | final evaluation | 30 | 1.33 | - |',
        '| NTM | num_steps=50 | 1 | memory_size=256 | 30 | 1.5 | 1.7 |'])
    # A broken evaluation file is named.
    with open(os.path.join(run, 'evaluations', 'member1_step30_model.'
                           'memory_size-256', 'train.json'), 'w') as f:
      f.write('{')
    with self.assertRaisesRegex(ValueError, r'train\.json: not a readable JSON'):
      studies.export(tmp, 'copy')

  def test_rows_of_plain_run_folders(self):
    # Runs of python -m memax.main: one resumed with more steps, finished
    # and evaluated again; one interrupted; a folder beside them that is
    # not a run.
    tmp = self.enterContext(tempfile.TemporaryDirectory())
    folder = os.path.join(tmp, 'longer')

    def run(name, config, lines, kept=None, final=None):
      path = os.path.join(folder, name)
      os.makedirs(path)
      with open(os.path.join(path, 'config.json'), 'w') as f:
        json.dump(config, f)
      if kept:
        with open(os.path.join(path, 'config.20261203-151710.json'),
                  'w') as f:
          json.dump(kept, f)
      with open(os.path.join(path, 'metrics.jsonl'), 'w') as f:
        f.writelines(json.dumps(x) + '\n' for x in lines)
      if final:
        os.makedirs(os.path.join(path, 'eval'))
        with open(os.path.join(path, 'eval', 'train.json'), 'w') as f:
          json.dump({'metrics': final}, f)
      return path

    train = lambda step, wall: {'step': step, 'split': 'train',
                                'steps_per_sec': 2.0, 'wall_seconds': wall}
    evals = lambda step, v: {'step': step, 'split': 'eval/train',
                             'bit_errors': v}
    # Resumed by a newer memax, whose configs have a field more.
    first = run('000_seed=0',
                {'seed': 0, 'train': {'num_steps': 20, 'stop_below': 0.0},
                 'xla_cpu_optimize': True},
                [train(10, 6.0), evals(10, 3.0),
                 {'step': 10, 'split': 'final/train', 'bit_errors': 3.0},
                 train(20, 12.0), evals(20, 0.5),
                 {'step': 20, 'split': 'final/train', 'bit_errors': 0.5}],
                kept={'seed': 0, 'train': {'num_steps': 10,
                                           'stop_below': 0.01}},
                final={'bit_errors': 0.5, 'num_examples': 256})
    evaluation = os.path.join(first, 'evaluations',
                              'step20_model.memory_size-256')
    os.makedirs(evaluation)
    with open(os.path.join(evaluation, 'length_40.json'), 'w') as f:
      json.dump({'checkpoint_step': 20, 'eval_seed': 0, 'best': False,
                 'overrides': ['model.memory_size=256'],
                 'metrics': {'perfect': 0.75}}, f)
    run('001_seed=1', {'seed': 1, 'train': {'num_steps': 20}},
        [train(10, 5.0), evals(10, 4.0),
         {'step': 10, 'split': 'final/train', 'bit_errors': 4.0},
         train(15, 8.0)], final={'bit_errors': 4.0})
    os.makedirs(os.path.join(folder, 'logs'))

    rows = studies.export(folder, curve_metric='eval/train/bit_errors')
    self.assertEqual([r['trial'] for r in rows], ['000_seed=0', '001_seed=1'])
    done, started = rows
    self.assertEqual((done['study'], done['config'], done['commit'],
                      done['status'], done['seed'], done['steps']),
                     ('longer', None, None, 'done', 0, 20))
    # What sets the runs apart as launched (seed, steps, the stop), then
    # what the first one changed when it was resumed.
    self.assertEqual(done['settings'], {'seed': 0, 'train.num_steps': 20,
                                        'train.stop_below': 0.0})
    self.assertEqual((done['wall_seconds'], done['train_seconds']),
                     (12.0, 10.0))
    self.assertEqual(done['metrics'], {'train/bit_errors': 0.5})
    self.assertEqual(done['curve']['values'], [3.0, 0.5])
    self.assertEqual(done['evaluations'][0]['metrics'],
                     {'length_40/perfect': 0.75})
    # Its last train step (15) has no final evaluation: not done.
    self.assertEqual((started['status'], started['settings'],
                      started['metrics'], started['steps']),
                     ('started', {'seed': 1, 'train.num_steps': 20,
                                  'train.stop_below': None}, {}, 15))
    # One run folder, given itself: only what its resume changed; a folder
    # without runs is an error.
    alone = studies.export(first, 'one')
    self.assertEqual([r['trial'] for r in alone], ['000_seed=0'])
    self.assertEqual(alone[0]['settings'], {'train.num_steps': 20,
                                            'train.stop_below': 0.0})
    with self.assertRaisesRegex(ValueError, 'folder of run workdirs'):
      studies.export(os.path.join(folder, 'logs'))
    # Plain runs have no sweep command for a commands table.
    with self.assertRaisesRegex(ValueError, 'plain runs'):
      studies.command(rows, 'longer')

  def test_export_keeps_written_rows_of_trials_never_started(self):
    def row(trial, status, seed, config='configs/c.py:seeds=3', steps=None):
      return {'study': 's', 'trial': trial, 'config': config,
              'settings': {'seed': seed}, 'seed': seed, 'status': status,
              'steps': steps, 'metrics': {}}
    written = [row('000_seed=0', 'done', 0, steps=100),
               row('001_seed=1', 'started', 1, steps=38),
               row('002_seed=2', 'started', 2, steps=38)]
    # Seeds 1-2 run again (`--only`) in a new folder: seed 0 never started
    # there and keeps its row; the others are the new folder's.
    rows = [row('000_seed=0', 'pending', 0), row('001_seed=1', 'done', 1,
                                                 steps=100),
            row('002_seed=2', 'pending', 2), row('003_seed=3', 'pending', 3)]
    out, kept = studies.keep_written(rows, written)
    self.assertEqual(out, [written[0], rows[1], written[2], rows[3]])
    self.assertEqual(kept, ['000_seed=0', '002_seed=2'])
    # Another config or other settings are another trial: nothing is kept.
    other = [dict(r, config='configs/c.py:seeds=3,x=1') for r in written]
    self.assertEqual(studies.keep_written(rows, other), (rows, []))
    moved = [dict(r, settings={'seed': 9}) for r in written]
    self.assertEqual(studies.keep_written(rows, moved), (rows, []))

  def test_keep_written_across_a_grown_sweeps_argument(self):
    # The file's rows were exported from `seeds=1`, the new folder is the
    # sweep grown to `seeds=3`: one config, so seed 0's row is kept. An
    # argument that changes the config (`width=8`) is another sweep.
    tmp = self.enterContext(tempfile.TemporaryDirectory())
    path = os.path.join(tmp, 'c.py')
    with open(path, 'w') as f:
      f.write('import ml_collections\n'
              'def get_config(arg=None):\n'
              '  items = dict(i.partition("=")[::2] for i in '
              '(arg or "").split(",") if i)\n'
              '  return ml_collections.ConfigDict('
              '{"width": int(items.get("width", 4))})\n')

    def row(status, config):
      return {'study': 's', 'trial': '000_seed=0', 'config': config,
              'settings': {'seed': 0}, 'seed': 0, 'status': status,
              'metrics': {}}
    written = [row('done', f'{path}:seeds=1')]
    pending = [row('pending', f'{path}:seeds=3')]
    self.assertEqual(studies.keep_written(pending, written),
                     (written, ['000_seed=0']))
    wider = [row('pending', f'{path}:seeds=3,width=8')]
    self.assertEqual(studies.keep_written(wider, written), (wider, []))
    # A config file that no longer loads: only the same text is the same.
    gone = [row('done', f'{tmp}/gone.py:seeds=1')]
    self.assertEqual(studies.keep_written(
        [row('pending', f'{tmp}/gone.py:seeds=3')], gone)[1], [])


if __name__ == '__main__':
  absltest.main()
