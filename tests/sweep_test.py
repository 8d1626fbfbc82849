"""Tests for sweeps: trials from flags and config files, summaries, and the
runner (`python -m memax.sweep`) end to end, resumed and refused."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

from absl.testing import absltest
import jax
import ml_collections

from memax import overrides
from memax import sweep_workdir
from memax import sweeps

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config():
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.name = 'x'
  c.flag = False
  c.optimizer = ml_collections.ConfigDict({'learning_rate': 1e-3})
  c.task = ml_collections.ConfigDict({'eval_lengths': (20, 40), 'size': 8})
  return c


class TrialsTest(absltest.TestCase):

  def test_flags_make_a_product_parsed_by_type(self):
    trials = sweeps.expand(_config(), None, [
        'seed=0,1', 'optimizer.learning_rate=1e-4,3e-4'])
    self.assertEqual([t.as_dict() for t in trials], [
        {'seed': 0, 'optimizer.learning_rate': 1e-4},
        {'seed': 0, 'optimizer.learning_rate': 3e-4},
        {'seed': 1, 'optimizer.learning_rate': 1e-4},
        {'seed': 1, 'optimizer.learning_rate': 3e-4}])
    self.assertEqual([t.index for t in trials], [0, 1, 2, 3])
    self.assertEqual(len({t.name for t in trials}), 4)

  def test_values_of_every_kind(self):
    (t1, t2), = [sweeps.expand(_config(), None, [
        'task.eval_lengths=(20,40),(80,)'])]
    self.assertEqual([t1.as_dict(), t2.as_dict()],
                     [{'task.eval_lengths': (20, 40)},
                      {'task.eval_lengths': (80,)}])
    trials = sweeps.expand(_config(), None, ["name='a,b',c", 'flag=true,false',
                                             'optimizer.learning_rate=1'])
    self.assertEqual(trials[0].as_dict(), {
        'name': 'a,b', 'flag': True, 'optimizer.learning_rate': 1.0})
    self.assertIsInstance(trials[0].as_dict()['optimizer.learning_rate'],
                          float)
    self.assertEqual(trials[-1].as_dict()['name'], 'c')

  def test_flags_parse_back_to_the_same_config(self):
    # The launcher's flags of a trial give the config the trial names.
    config = _config()
    for trial in sweeps.expand(config, None, [
        "name='a,b',c", 'task.eval_lengths=(20,40),(80,)',
        'optimizer.learning_rate=3e-4', 'flag=true']):
      got = overrides.apply(config, trial.flags())
      want = overrides.apply(config, trial.as_dict())
      self.assertEqual(got.to_dict(), want.to_dict(), trial.name)

  def test_file_sweep_times_flags(self):
    def sweep(add, arg=None):
      for lr in (0.1, 0.2):
        add(**{'optimizer.learning_rate': lr, 'name': arg})
    trials = sweeps.expand(_config(), sweeps.file_trials(sweep, 'y'),
                           ['seed=3,4'])
    self.assertEqual([t.as_dict() for t in trials], [
        {'optimizer.learning_rate': 0.1, 'name': 'y', 'seed': 3},
        {'optimizer.learning_rate': 0.1, 'name': 'y', 'seed': 4},
        {'optimizer.learning_rate': 0.2, 'name': 'y', 'seed': 3},
        {'optimizer.learning_rate': 0.2, 'name': 'y', 'seed': 4}])

  def test_bad_sweeps_are_errors_naming_the_field(self):
    config = _config()
    cases = {
        ('optimizer.momentum=0.9',): 'optimizer.momentum',
        ('task.size=big',): 'task.size',
        ('seed=',): 'seed',
        ('seed=0,1', 'seed=2'): 'twice',
        ('seed=1,1',): 'same',
        (): 'empty',
    }
    for flags, words in cases.items():
      with self.assertRaisesRegex(ValueError, words, msg=str(flags)):
        sweeps.expand(config, None, list(flags))
    with self.assertRaisesRegex(ValueError, 'added no trial'):
      sweeps.expand(config, [], ['seed=1'])
    with self.assertRaisesRegex(ValueError, 'already sets seed'):
      sweeps.expand(config, [{'seed': 1}], ['seed=2'])


class JobsTest(absltest.TestCase):

  def test_population_groups_products_and_runs_the_rest_alone(self):
    import configs.lstm_copy as lstm_copy  # pylint: disable=g-import-not-at-top
    config = lstm_copy.get_config('runlocal')
    trials = sweeps.expand(config, None, [
        'model.hidden_size=8,16', 'seed=0,1',
        'optimizer.learning_rate=1e-3,3e-3'])
    jobs = sweeps.plan_jobs(config, trials, 'population')
    # The hidden size changes shapes: two populations of 4 members.
    self.assertLen(jobs, 2)
    for job, size in zip(jobs, (8, 16)):
      self.assertIn(f'--config.model.hidden_size={size}', job['flags'])
      self.assertIn('--config.population.seeds=0,1', job['flags'])
      self.assertIn('--config.population.sweep=optimizer.learning_rate='
                    '0.001,0.003', job['flags'])
      self.assertEqual(sorted(job['members'].values()), [0, 1, 2, 3])
    # Member i of the population is the trial with the same settings.
    from memax.training import population  # pylint: disable=g-import-not-at-top
    by_name = {t.name: t for t in trials}
    for job in jobs:
      members = population.member_overrides(overrides.apply(
          config, [f[len('--config.'):] for f in job['flags']]))
      for name, i in job['members'].items():
        want = {k: v for k, v in by_name[name].as_dict().items()
                if k != 'model.hidden_size'}
        self.assertEqual(members[i], want)
    # Not a product (3 of the 4 combinations): each trial runs alone.
    partial = [t for t in trials[:4] if t.index != 3]
    alone = sweeps.plan_jobs(config, partial, 'population')
    self.assertEqual([j['members'] for j in alone],
                     [{t.name: None} for t in partial])
    self.assertEqual([j['dir'] for j in sweeps.plan_jobs(config, trials[:2],
                                                         'local')],
                     [f'trials/{t.name}' for t in trials[:2]])


_GROW_CONFIG = textwrap.dedent('''
    from configs import common
    from configs import lstm_copy

    def get_config(arg=None):
      arg = common.parse_arg(arg, seeds=0, steps=0)
      config = lstm_copy.get_config('runlocal')
      if arg.steps:
        config.train.num_steps = arg.steps
      return config

    def sweep(add, arg=None):
      for lr in (1e-3, 3e-3):
        common.add_seeds(lambda **kw: add(**kw, **{
            'optimizer.learning_rate': lr}), arg, 1)
''')


class _Ended:
  """A launcher handle for a job that ends at once with exit code 0."""

  def __init__(self, command, log_path):
    self.id, self.command = 'fake', command
    del log_path

  def poll(self):
    return 0

  def stop(self):
    pass


class GrowTest(absltest.TestCase):
  """More seeds for a sweep that has run: its trials stay, new ones run."""

  def _sweep(self, config_file, workdir, grouping='local', launched=None,
             only=()):
    config = sweeps.load_file_config(config_file)
    trials, jobs = sweep_workdir.plan(config, config_file, {}, [], grouping,
                                      workdir)
    executor = 'population' if grouping == 'population' else 'local'
    sweep = sweep_workdir.create(config_file, {}, trials, jobs, executor,
                                 workdir, sys.executable)

    def launch(command, log_path):
      handle = _Ended(command, log_path)
      launched.append(command[command.index('-m') + 2:][1][len(
          '--workdir=' + workdir + '/'):])
      return handle
    sweep_workdir.run(sweep, 2, False, launch, only)
    return sweep.record

  def _config_file(self):
    """A config file of the grow config in a new folder, and a workdir."""
    tmp = self.enterContext(tempfile.TemporaryDirectory())
    path = os.path.join(tmp, 'grow_config.py')
    with open(path, 'w') as f:
      f.write(_GROW_CONFIG)
    return path, os.path.join(tmp, 'sweep')

  def test_more_seeds_grow_a_sweep(self):
    path, workdir = self._config_file()
    launched = []
    first = self._sweep(f'{path}:seeds=1', workdir, launched=launched)
    names = [t['name'] for t in first['trials']]
    self.assertEqual(names, ['000_seed=0,optimizer.learning_rate=0.001',
                             '001_seed=0,optimizer.learning_rate=0.003'])
    self.assertEqual(launched, [f'trials/{n}' for n in names])
    # Seeds 0-2: the two trials keep their names; four are added after
    # them, numbered on; only those run.
    launched.clear()
    grown = self._sweep(f'{path}:seeds=3', workdir, launched=launched)
    added = ['002_seed=1,optimizer.learning_rate=0.001',
             '003_seed=2,optimizer.learning_rate=0.001',
             '004_seed=1,optimizer.learning_rate=0.003',
             '005_seed=2,optimizer.learning_rate=0.003']
    self.assertEqual([t['name'] for t in grown['trials']], names + added)
    self.assertEqual(grown['trials'][:2], first['trials'])
    self.assertEqual(grown['jobs'][:2], first['jobs'])
    self.assertEqual(launched, [f'trials/{n}' for n in added])
    self.assertEqual(grown['config_file'], f'{path}:seeds=3')
    self.assertEqual(grown['created'], first['created'])
    self.assertLen(grown['grown'], 1)
    self.assertEqual(grown['grown'][0]['trials'], added)
    self.assertEqual(json.load(open(os.path.join(workdir, 'sweep.json'))),
                     grown)
    # The same command again resumes: nothing runs.
    launched.clear()
    self.assertEqual(self._sweep(f'{path}:seeds=3', workdir,
                                 launched=launched)['trials'],
                     grown['trials'])
    self.assertEqual(launched, [])
    # An argument that changes the config is refused, naming it.
    with self.assertRaisesRegex(ValueError, 'changes the config'):
      self._sweep(f'{path}:seeds=4,steps=7', workdir, launched=launched)
    # A sweep without one of the directory's trials is another sweep.
    config = sweeps.load_file_config(path)
    other = sweeps.expand(config, [{'seed': 0}], [])
    with self.assertRaisesRegex(ValueError, 'holds another sweep'):
      sweep_workdir.create(path, {}, other, sweeps.plan_jobs(
          config, other, 'local'), 'local', workdir, sys.executable)
    self.assertEqual(json.load(open(os.path.join(workdir, 'sweep.json'))),
                     grown)

  def test_only_runs_the_trials_named(self):
    path, workdir = self._config_file()
    launched = []
    record = self._sweep(f'{path}:seeds=2', workdir, launched=launched,
                         only=['3',
                               '000_seed=0,optimizer.learning_rate=0.001'])
    names = [t['name'] for t in record['trials']]
    self.assertLen(names, 4)
    # In the sweep's order, whatever the order of the names.
    self.assertEqual(launched, [f'trials/{names[0]}', f'trials/{names[3]}'])
    sweep = sweep_workdir.open_sweep(workdir)
    self.assertEqual([r['status'] for r in sweep.records()],
                     ['done', 'pending', 'pending', 'done'])
    # A name that is not a trial is an error naming the sweep's trials;
    # nothing runs.
    launched.clear()
    with self.assertRaisesRegex(ValueError, r'--only=001_seed=9: not a '
                                rf'trial .*{names[1]}'):
      self._sweep(f'{path}:seeds=2', workdir, launched=launched,
                  only=['001_seed=9'])
    self.assertEqual(launched, [])
    # Without --only the rest run; a population is named by its group.
    self._sweep(f'{path}:seeds=2', workdir, launched=launched)
    self.assertEqual(launched, [f'trials/{n}' for n in names[1:3]])
    launched.clear()
    self._sweep(f'{path}:seeds=2', os.path.join(workdir, 'p'), 'population',
                launched, only=['g000'])
    self.assertEqual(launched, ['groups/g000'])

  def test_added_seeds_of_populations_are_new_populations(self):
    path, workdir = self._config_file()
    launched = []
    first = self._sweep(f'{path}:seeds=2', workdir, 'population', launched)
    self.assertEqual(launched, ['groups/g000'])
    launched.clear()
    grown = self._sweep(f'{path}:seeds=4', workdir, 'population', launched)
    self.assertEqual(launched, ['groups/g001'])
    self.assertEqual(grown['jobs'][0], first['jobs'][0])
    self.assertIn('--config.population.seeds=2,3', grown['jobs'][1]['flags'])
    self.assertEqual(sorted(grown['jobs'][1]['members'].values()),
                     [0, 1, 2, 3])


def _trial(name, seed, lr, status='done', **metrics):
  return {'name': name, 'overrides': {'seed': seed,
                                      'optimizer.learning_rate': lr},
          'status': status, 'metrics': metrics}


class SummaryTest(absltest.TestCase):

  def test_statistics_over_seeds_and_best_on_validation(self):
    trials = [
        _trial('a', 0, 0.1, **{'valid/error': 0.3, 'test/error': 0.35}),
        _trial('b', 1, 0.1, **{'valid/error': 0.1, 'test/error': 0.25}),
        _trial('c', 2, 0.1, **{'valid/error': 0.2, 'test/error': 0.15}),
        _trial('d', 0, 0.2, **{'valid/error': 0.5, 'test/error': 0.5,
                               'test/error_task_1': 0.4}),
        _trial('e', 1, 0.2, status='failed'),
    ]
    summary = sweeps.summarize(trials)
    self.assertEqual(summary['counts'], {'done': 4, 'failed': 1})
    first, second = summary['groups']
    self.assertEqual(first['group'], 'optimizer.learning_rate=0.1')
    s = first['stats']['test/error']
    self.assertEqual(s['n'], 3)
    self.assertAlmostEqual(s['mean'], 0.25)
    self.assertAlmostEqual(s['sd'], 0.1)  # sample sd of .35, .25, .15
    self.assertAlmostEqual(s['median'], 0.25)
    self.assertEqual((s['min'], s['max']), (0.15, 0.35))
    # Picked on validation (b), reported with its own test error.
    self.assertEqual(first['picked']['name'], 'b')
    self.assertEqual(first['picked']['metrics']['test/error'], 0.25)
    self.assertEqual(second['finished'], 1)
    self.assertEqual(second['stats']['test/error']['sd'], 0.0)
    self.assertEqual(sweeps.summarize(trials, minimize=False)['groups'][0][
        'picked']['name'], 'a')
    # Reported: metrics every finished trial has, per-task ones aside.
    self.assertEqual(sweeps.report_metrics(trials),
                     ['test/error', 'valid/error'])
    text = sweeps.markdown(summary, ['test/error'], 'T')
    self.assertIn('| optimizer.learning_rate=0.1 | 3/3 | 0.25 ± 0.1 '
                  '[0.25; 0.15–0.35] | b (valid/error 0.1): test/error 0.25 |',
                  text)
    self.assertIn('| e | failed |  |', text)
    # One finished seed has no spread to show.
    self.assertIn('| optimizer.learning_rate=0.2 | 1/2 | 0.5 (one seed) |',
                  text)


# Trials without plots, TensorBoard files or length variants: 5 s, not 8.
_QUICK = ('--config.evals.plot=False', '--config.tensorboard=False',
          '--config.evals.variants=train')


def _lstm_runlocal():
  from configs import lstm_copy  # pylint: disable=g-import-not-at-top
  return lstm_copy.get_config('runlocal')


_SWEEP_CONFIG = textwrap.dedent('''
    from configs import lstm_copy

    def get_config(arg=None):
      return lstm_copy.get_config('runlocal')

    def sweep(add, arg=None):
      add(seed=0)
      add(seed=1)
''')


class _Runs(absltest.TestCase):

  def _env(self):
    # The trials compile into the suite's cache, not the user's.
    cache = jax.config.jax_compilation_cache_dir or 'off'
    return dict(os.environ, PYTHONPATH=_ROOT, MEMAX_COMPILATION_CACHE=cache)

  def _run(self, *args, check=True):
    env = self._env()
    result = subprocess.run(
        [sys.executable, '-m', 'memax.sweep', *args], cwd=_ROOT, env=env,
        capture_output=True, text=True, timeout=600)
    if check and result.returncode:
      self.fail(f'{args}: exit {result.returncode}\n{result.stderr[-3000:]}')
    return result


# Before RunnerTest: its trial compiles the programs of RunnerTest's trials
# (the same config; steps and intervals change no program), which then
# find them in the compilation cache instead of both compiling them at once.
class KilledSweepTest(_Runs):
  """A sweep killed (SIGKILL) in the middle of a trial, then resumed."""

  # Steps of the trial: killed after its first checkpoint (step 100), it
  # still has 900 steps (9 checkpoints, seconds) to go.
  NUM_STEPS = 1000

  def test_killed_sweep_resumes_and_runs_nothing_twice(self):
    tmp = self.enterContext(tempfile.TemporaryDirectory())
    config = os.path.join(tmp, 'one_config.py')
    with open(config, 'w') as f:
      f.write(_SWEEP_CONFIG.split('def sweep')[0])  # no sweep of its own
    workdir = os.path.join(tmp, 'sweep')
    args = [f'--config={config}', f'--workdir={workdir}',
            '--sweep=seed=0', *_QUICK,
            f'--config.train.num_steps={self.NUM_STEPS}',
            '--config.train.ckpt_every=100',
            '--config.train.log_every=100', '--config.train.eval_every=1000']
    env = self._env()
    sweep = subprocess.Popen([sys.executable, '-m', 'memax.sweep', *args],
                             cwd=_ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    first = os.path.join(workdir, 'trials')
    deadline = time.time() + 300
    ckpts = []
    while time.time() < deadline and not ckpts:
      time.sleep(0.05)
      for d in (os.listdir(first) if os.path.isdir(first) else []):
        path = os.path.join(first, d, 'checkpoints')
        ckpts = [c for c in (os.listdir(path) if os.path.isdir(path) else [])
                 if c.isdigit()]  # a finished checkpoint
    sweep.kill()  # the trial dies with it (it would keep the workdir locked)
    sweep.wait()
    self.assertNotEmpty(ckpts, 'no checkpoint before the deadline')
    name = sorted(os.listdir(first))[0]
    self.assertFalse(os.path.exists(os.path.join(workdir, 'status',
                                                 f'{name}.json')))

    self._run(*args)
    log = open(os.path.join(workdir, 'logs', f'{name}.log')).read()
    self.assertEqual(log.count('$ '), 2)
    self.assertIn('Resumed from', log)
    summary = json.load(open(os.path.join(workdir, 'summary.json')))
    self.assertEqual(summary['counts'], {'done': 1})
    # Every step is logged once: the resumed run drops what the killed one
    # logged after its checkpoint, and logs those steps again.
    with open(os.path.join(first, name, 'metrics.jsonl')) as f:
      steps = [json.loads(line)['step'] for line in f
               if json.loads(line).get('split') == 'train']
    self.assertEqual(steps, sorted(set(steps)))
    self.assertEqual(steps[-1], self.NUM_STEPS)


class RunnerTest(_Runs):
  """`python -m memax.sweep` with tiny LSTM trials."""

  def test_runs_resumes_summarizes_and_refuses_another_sweep(self):
    tmp = self.enterContext(tempfile.TemporaryDirectory())
    config = os.path.join(tmp, 'sweep_config.py')
    with open(config, 'w') as f:
      f.write(_SWEEP_CONFIG)
    workdir = os.path.join(tmp, 'sweep')
    args = [f'--config={config}', f'--workdir={workdir}',
            '--sweep=optimizer.learning_rate=3e-3', '--parallel=2',
            '--metrics=train/bit_errors', *_QUICK]

    printed = self._run(*args, '--print_commands').stdout.splitlines()
    self.assertLen(printed, 2)
    self.assertIn('-m memax.main', printed[0])
    self.assertIn('--config.seed=0 --config.optimizer.learning_rate=0.003',
                  printed[0])
    self.assertFalse(os.path.exists(workdir))  # printing runs nothing
    trial = printed[1].split(f'--workdir={workdir}/trials/')[1].split()[0]
    self.assertEqual(self._run(*args, '--print_commands', f'--only={trial}')
                     .stdout.splitlines(), printed[1:])
    self.assertEqual(self._run(*args, '--print_commands', '--only=000')
                     .stdout.splitlines(), printed[:1])
    bad = self._run(*args, '--only=nope', check=False)
    self.assertEqual(bad.returncode, 1)
    self.assertIn(f'--only=nope: not a trial of the sweep in {workdir} (a '
                  'name or a number); its trials are: ', bad.stderr)
    self.assertFalse(os.path.exists(workdir))  # refused before any work

    self._run(*args)
    record = json.load(open(os.path.join(workdir, 'sweep.json')))
    names = [t['name'] for t in record['trials']]
    self.assertLen(names, 2)
    self.assertIn('commit', record['git'] or {'commit': None})
    self.assertIn('jax', record['versions'])
    summary = json.load(open(os.path.join(workdir, 'summary.json')))
    self.assertEqual(summary['counts'], {'done': 2})
    self.assertEqual([g['finished'] for g in summary['groups']], [2])
    for name in names:
      trial = os.path.join(workdir, 'trials', name)
      saved = json.load(open(os.path.join(trial, 'config.json')))
      want = record['trials'][names.index(name)]['overrides']
      self.assertEqual(saved['seed'], want['seed'])
      self.assertEqual(saved['optimizer']['learning_rate'],
                       want['optimizer.learning_rate'])
    self.assertTrue(os.path.exists(os.path.join(workdir, 'summary.png')))
    with open(os.path.join(workdir, 'summary.md')) as f:
      self.assertEqual(f.readline().strip(), (
          f'# Sweep {config} with evals.plot=false, evals.variants=train, '
          f'tensorboard=false ({workdir})'))
    before = {n: open(os.path.join(workdir, 'logs', f'{n}.log')).read()
              for n in names}
    evals = {n: open(os.path.join(workdir, 'trials', n, 'eval',
                                  'train.json')).read() for n in names}

    # An interrupted trial (no status written) runs again and resumes its
    # finished workdir; the others are skipped.
    os.remove(os.path.join(workdir, 'status', f'{names[1]}.json'))
    self._run(*args)
    for n in names:
      log = open(os.path.join(workdir, 'logs', f'{n}.log')).read()
      if n == names[1]:
        self.assertEqual(log.count('\n$ '), 1)  # launched a second time
        self.assertIn('already finished', log)
      else:
        self.assertEqual(log, before[n])  # not run twice
      self.assertEqual(open(os.path.join(workdir, 'trials', n, 'eval',
                                         'train.json')).read(), evals[n])
    self.assertEqual(json.load(open(os.path.join(workdir, 'summary.json')))[
        'counts'], {'done': 2})

    # Another sweep in the same directory is refused; nothing changes.
    config_dict = overrides.apply(_lstm_runlocal(), {})
    other = sweeps.expand(config_dict, None, ['optimizer.learning_rate=1e-2'])
    with self.assertRaisesRegex(ValueError, 'holds another sweep'):
      sweep_workdir.create(config, {}, other, sweeps.plan_jobs(
          config_dict, other, 'local'), 'local', workdir, sys.executable)
    self.assertEqual(json.load(open(os.path.join(workdir, 'sweep.json'))),
                     record)
    # The summary is rebuilt from the directory alone.
    os.remove(os.path.join(workdir, 'summary.json'))
    rebuilt = sweep_workdir.write_summary(sweep_workdir.open_sweep(workdir),
                                          'valid/error', True)
    self.assertEqual(rebuilt['counts'], {'done': 2})
    self.assertTrue(os.path.exists(os.path.join(workdir, 'summary.json')))

    # The same trials as one population (one process, the same metrics), as
    # a job of submitit's local executor.
    jobs_dir = os.path.join(tmp, 'submitit')
    self._run(*[f'--workdir={jobs_dir}' if a.startswith('--workdir=') else a
                for a in args], '--executor=submitit', '--cluster=local',
              '--populations')
    record = json.load(open(os.path.join(jobs_dir, 'sweep.json')))
    self.assertLen(record['jobs'], 1)
    self.assertEqual(sorted(record['jobs'][0]['members'].values()), [0, 1])
    local = json.load(open(os.path.join(workdir, 'summary.json')))['trials']
    population = json.load(open(os.path.join(jobs_dir, 'summary.json')))[
        'trials']
    self.assertLen(population, len(local))
    for a, b in zip(local, population):
      self.assertEqual((a['name'], b['status']), (b['name'], 'done'))
      self.assertEqual(sorted(a['metrics']), sorted(b['metrics']))
      for k, v in a['metrics'].items():
        self.assertAlmostEqual(b['metrics'][k], v, delta=1e-4 * abs(v) + 1e-5,
                               msg=f'{a["name"]} {k}')
    record = json.load(open(os.path.join(jobs_dir, 'sweep.json')))
    ended = json.load(open(os.path.join(jobs_dir, 'status',
                                        f'{record["jobs"][0]["name"]}.json')))
    self.assertStartsWith(ended['id'], 'job ')


if __name__ == '__main__':
  absltest.main()
