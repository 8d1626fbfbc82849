"""Every config builds, has its command in its docstring, and rejects typos."""

import functools
import glob
import importlib.util
import os
import re

from absl.testing import absltest
from absl.testing import parameterized
import ml_collections

from configs import common
from memax import overrides
from memax import sweeps
from memax.training import evaluate
from memax.training import optim
from memax.training import setup

_ROOT = os.path.dirname(os.path.dirname(__file__))
_EXPERIMENTS = sorted(
    os.path.basename(p)[:-3]
    for p in glob.glob(os.path.join(_ROOT, 'configs', '*_*.py'))
    if not os.path.basename(p).startswith('_'))


@functools.lru_cache(maxsize=None)
def _flags_of(module: str) -> frozenset[str]:
  """The flags `python -m memax.<module>` defines, read from its source
  (importing several launchers would define their flags twice)."""
  with open(os.path.join(_ROOT, 'memax', f'{module}.py')) as f:
    text = f.read()
  names = set(re.findall(r"DEFINE_\w+\(\s*'(\w+)'", text))
  if 'distributed.define_flags()' in text:
    names |= {'coordinator_address', 'num_processes', 'process_id'}
  if module == 'evaluate':
    names.add('config')  # `--config.a.b=value` overrides, taken out first.
  return frozenset(names)


def _unknown_flags(text: str) -> list[str]:
  """`memax.<module> --flag` for each flag of a `python -m memax.<module>`
  command in `text` that the module does not define."""
  text = text.replace('\\\n', ' ')
  commands = re.findall(r'python -m memax\.(\w+)([^\n`]*)', text)
  return [f'memax.{module} --{flag}' for module, rest in commands
          for flag in re.findall(r'--(\w+)', rest)
          if flag not in _flags_of(module)]


# The flags each launcher cannot run without (`flags.mark_flags_as_required`
# in memax/main.py and memax/evaluate.py; memax/sweep.py's UsageError unless
# it only summarizes).
_REQUIRED = {'main': ('config', 'workdir'), 'evaluate': ('workdir',),
             'sweep': ('config', 'workdir')}


def _missing_flags(text: str) -> list[str]:
  """`memax.<module> needs --flag` for each `python -m memax.<module>`
  command with flags in `text` that lacks a flag the launcher requires (a
  bare `python -m memax.sweep` in prose names the tool, not a command)."""
  text = text.replace('\\\n', ' ')
  missing = []
  # A command ends at the line's end, a backtick or the next command;
  # `--config.seed=0` is an override, not `--config`.
  for module, rest in re.findall(
      r'python -m memax\.(\w+)((?:(?!python -m)[^\n`])*)', text):
    flags = set(re.findall(r'--([\w.]+)', rest))
    if not flags or (module == 'sweep' and 'summarize' in flags):
      continue
    missing += [f'memax.{module} needs --{f}' for f in _REQUIRED.get(module, ())
                if f not in flags]
  return missing


def _load(name):
  spec = importlib.util.spec_from_file_location(
      name, os.path.join(_ROOT, 'configs', f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


class ConfigsTest(parameterized.TestCase):

  def test_there_is_a_config_per_model_and_task(self):
    for model in ('ntm', 'lstm'):
      for task in ('copy', 'repeat_copy', 'associative_recall',
                   'priority_sort', 'ngrams'):
        self.assertIn(f'{model}_{task}', _EXPERIMENTS)

  @parameterized.parameters(*_EXPERIMENTS)
  def test_builds_and_documents_its_command(self, name):
    module = _load(name)
    self.assertIn(f'--config=configs/{name}.py', module.__doc__)
    for arg in (None, 'runlocal'):
      config = module.get_config(arg)
      model, task = setup.build(config)
      if name.endswith('_babi'):  # answers are vocabulary ids.
        self.assertEqual(model.vocab_size, task.output_size)
      else:
        self.assertEqual(model.output_size, task.output_size)
    runlocal = module.get_config('runlocal').train
    if name.endswith('_babi'):
      self.assertEqual(runlocal.num_epochs, 2)
    else:
      self.assertEqual(runlocal.num_steps, 4)

  @parameterized.parameters(*_EXPERIMENTS)
  def test_takes_the_rate_schedule_and_l2_from_the_command_line(self, name):
    # README: `optimizer.*` takes `schedule='step'`, its decay fields and
    # `l2` in every config, not only in those that set them.
    config = overrides.apply(_load(name).get_config(None), [
        'optimizer.schedule=step', 'optimizer.decay_every_epochs=2',
        'optimizer.decay_start_epochs=0', 'optimizer.decay_factor=0.25',
        'optimizer.l2=0.001'])
    rate = optim.learning_rate_schedule(config.optimizer)
    lr = config.optimizer.learning_rate
    self.assertAlmostEqual(float(rate(1)), lr, delta=lr * 1e-6)
    self.assertAlmostEqual(float(rate(2)), lr / 4, delta=lr * 1e-6)
    self.assertEqual(config.optimizer.l2, 0.001)

  def test_schedule_defaults_are_those_the_optimiser_assumes(self):
    # A config with add_schedule_fields' defaults trains as one without
    # the fields: the same values, field by field.
    optimizer = ml_collections.ConfigDict({'name': 'rmsprop'})
    common.add_schedule_fields(optimizer)
    for field, value in optimizer.items():
      if field != 'name':
        self.assertEqual(value, optim.DEFAULTS.get(field, 0.0), field)

  @parameterized.parameters(*_EXPERIMENTS)
  def test_its_documented_commands_use_flags_that_exist(self, name):
    self.assertEqual(_unknown_flags(_load(name).__doc__), [])

  def test_the_docs_commands_use_flags_that_exist(self):
    paths = ([os.path.join(_ROOT, 'README.md')]
             + glob.glob(os.path.join(_ROOT, 'docs', '*.md'))
             + glob.glob(os.path.join(_ROOT, 'experiments', '*', '*.md'))
             + glob.glob(os.path.join(_ROOT, 'notebooks', '*.ipynb')))
    self.assertGreater(len(paths), 5)
    paths += (glob.glob(os.path.join(_ROOT, 'memax', '**', '*.py'),
                        recursive=True)
              + glob.glob(os.path.join(_ROOT, 'configs', '*.py'))
              + glob.glob(os.path.join(_ROOT, 'benchmarks', '*.py')))
    for path in paths:
      with open(path) as f:
        text = f.read()
      self.assertEqual(_unknown_flags(text), [], path)
      self.assertEqual(_missing_flags(text), [], path)
    # It finds one of each.
    self.assertEqual(_unknown_flags('python -m memax.sweep --config=c.py '
                                    '\\\n  --sweep_dir=runs/x'),
                     ['memax.sweep --sweep_dir'])
    self.assertEqual(_missing_flags('`python -m memax.main --config=c.py '
                                    '--config.seed=0`'),
                     ['memax.main needs --workdir'])
    self.assertEqual(_missing_flags('`python -m memax.sweep` runs, '
                                    '`python -m memax.sweep --summarize=d`'),
                     [])
    self.assertEqual(_missing_flags('python -m memax.main --config.seed=0 '
                                    '--workdir=w'),
                     ['memax.main needs --config'])
    self.assertEqual(_missing_flags('python -m memax.evaluate --workdir=w; '
                                    'python -m memax.evaluate --step=2'),
                     ['memax.evaluate needs --workdir'])

  @parameterized.parameters(*_EXPERIMENTS)
  def test_every_config_defines_a_valid_sweep(self, name):
    module = _load(name)
    trials = sweeps.expand(module.get_config(), sweeps.file_trials(
        module.sweep, None), [])
    first = trials[0].as_dict()
    # DAM's comparison sweeps the memory refreshing loss, off and on.
    self.assertEqual(first, {'seed': 0, 'train.refresh_probability': 0.0}
                     if 'train.refresh_probability' in first else {'seed': 0})
    seeds = sweeps.file_trials(module.sweep, 'seeds=3')
    self.assertEqual(sorted({t['seed'] for t in seeds}), [0, 1, 2])
    if name.startswith('dam_') and name != 'dam_representation_recall':
      p_re = module.get_config().train.refresh_probability
      self.assertGreater(p_re, 0.0)
      self.assertEqual(sorted((t['seed'], t['train.refresh_probability'])
                              for t in seeds),
                       [(s, p) for s in range(3) for p in (0.0, p_re)])

  @parameterized.parameters('memn2n_babi', 'memnn_babi')
  def test_each_task_sweeps_the_configs_of_the_20_tasks(self, name):
    module = _load(name)
    arg = 'each_task,seeds=2' + (',ext=am+ng+nl' if name == 'memnn_babi'
                                 else ',protocol=code')
    base = module.get_config(arg)
    trials = sweeps.file_trials(module.sweep, arg)
    self.assertLen(trials, 40)
    rest = arg.replace('each_task,seeds=2,', '')
    for trial in trials:
      # Each trial is exactly the config of its task, with its seed.
      want = module.get_config(f'{rest},tasks={trial["task.tasks"]}')
      want.seed = trial['seed']
      got = overrides.apply(base, trial)
      self.assertEqual(got.to_dict(), want.to_dict(), str(trial))
    with self.assertRaisesRegex(ValueError, 'each_task'):
      module.get_config('each_task,tasks=3')

  def test_priority_sort_feedforward_sweep(self):
    module = _load('ntm_priority_sort')
    config = module.get_config('controller=feedforward')
    self.assertEqual((config.model.controller, config.model.controller_size,
                      config.model.num_read_heads), ('feedforward', 512, 8))
    trials = sweeps.file_trials(module.sweep, 'controller=feedforward')
    self.assertEqual([(t['seed'], t['optimizer.learning_rate'])
                      for t in trials],
                     [(0, 3e-5), (0, 1e-4), (1, 3e-5), (1, 1e-4)])
    fixed = 'controller=feedforward,lr=1e-4'
    self.assertEqual(module.get_config(fixed).optimizer.learning_rate, 1e-4)
    self.assertEqual(sweeps.file_trials(module.sweep, fixed + ',seeds=3'),
                     [{'seed': 0}, {'seed': 1}, {'seed': 2}])
    with self.assertRaisesRegex(ValueError, 'controller'):
      module.get_config('controller=gru')

  @parameterized.parameters('memn2n_babi', 'kvmemnn_babi', 'memnn_babi')
  def test_babi_configs_select_task_and_set(self, name):
    module = _load(name)
    joint = module.get_config('tasks=0')
    self.assertEqual(joint.task.tasks, 0)
    single = module.get_config('tasks=7,set=en-10k')
    self.assertEqual((single.task.tasks, single.task.set_name), (7, 'en-10k'))
    self.assertTrue(module.get_config('tasks=0,set=en-10k').task.allow_missing)

  @parameterized.parameters('memn2n_babi', 'kvmemnn_babi', 'memnn_babi',
                            'dnc_babi_words', 'dam_babi')
  def test_babi_configs_evaluate_only_valid_while_training(self, name):
    # The whole train split every evaluation would cost more than the
    # steps between them (180,000 questions on en-10k).
    for arg in (None, 'runlocal'):
      config = _load(name).get_config(arg)
      self.assertEqual(evaluate.periodic_names(config.evals), ['valid'],
                       msg=f'{name}:{arg}')

  @parameterized.parameters(
      ('memn2n_babi', 'protocol=code'), ('kvmemnn_babi', ''),
      ('memnn_babi', 'ext=am+ng+nl'))
  def test_babi_runlocal_keeps_every_given_argument(self, name, extra):
    module = _load(name)
    small = module.get_config('runlocal')
    self.assertEqual((small.task.tasks, small.task.set_name), (1, 'en'))
    self.assertEqual(small.train.num_epochs, 2)
    self.assertLess(small.model.embedding_size,
                    module.get_config('tasks=1').model.embedding_size)
    shrunk = ('embedding_size', 'feature_size')  # the sizes runlocal sets.
    for arg in ('tasks=5', 'tasks=1,set=en-10k', 'tasks=0,set=en-10k',
                'tasks=3,set=en-10k', f'tasks=7,{extra}'):
      full = module.get_config(arg)
      local = module.get_config(arg + ',runlocal')
      # The task as the argument chose it: ids, set, allow_missing, ...
      self.assertEqual(local.task.to_dict(), full.task.to_dict(), msg=arg)
      self.assertEqual(
          {k: v for k, v in local.model.items() if k not in shrunk},
          {k: v for k, v in full.model.items() if k not in shrunk}, msg=arg)
      self.assertEqual(local.train.num_epochs, 2)
    self.assertEqual(module.get_config('tasks=5,runlocal').task.tasks, 5)
    # Without tasks=, runlocal takes task 1 (kvmemnn_babi's default is joint).
    ten_k = module.get_config('set=en-10k,runlocal').task
    self.assertEqual((ten_k.tasks, ten_k.set_name), (1, 'en-10k'))
    self.assertEqual(ten_k.allow_missing,
                     module.get_config('tasks=1,set=en-10k').task.allow_missing)
    self.assertTrue(
        module.get_config('tasks=3,set=en-10k,runlocal').task.allow_missing)

  def test_kvmemnn_babi_is_joint_unless_tasks_is_given(self):
    module = _load('kvmemnn_babi')
    self.assertEqual(module.get_config().task.tasks, 0)
    self.assertEqual(module.get_config('set=en-10k').task.tasks, 0)
    self.assertEqual(module.get_config('runlocal').task.tasks, 1)
    self.assertEqual(module.get_config('tasks=0,runlocal').task.tasks, 0)

  def test_train_runlocal_keeps_model_and_task(self):
    train_config = _load('train')
    config = train_config.get_config('model=lstm,task=ngrams,runlocal')
    self.assertEqual((config.model.name, config.task.name), ('lstm', 'ngrams'))
    self.assertEqual(config.train.num_steps, 4)

  def test_memn2n_code_protocol(self):
    module = _load('memn2n_babi')
    for tasks, ls, epochs in ((0, 30, 90), (4, 20, 120)):
      config = module.get_config(f'tasks={tasks},protocol=code')
      self.assertEqual(config.model.encoding, 'position_centered')
      self.assertFalse(config.model.mask_empty_slots)
      self.assertEqual(config.train.linear_start_epochs, ls)
      self.assertEqual(config.optimizer.decay_start_epochs, ls)
      self.assertEqual(config.train.num_epochs, epochs)
    paper = module.get_config('tasks=0')
    self.assertEqual((paper.train.linear_start_epochs, paper.train.num_epochs),
                     (-1, 60))
    self.assertTrue(paper.model.mask_empty_slots)
    with self.assertRaisesRegex(ValueError, 'protocol'):
      module.get_config('protocol=matlab')

  def test_memnn_extensions(self):
    module = _load('memnn_babi')
    plain = module.get_config('tasks=7')
    self.assertEqual((plain.model.num_hops, plain.model.ngram_sizes,
                      plain.model.hidden_size), (2, (), 0))
    self.assertEqual(module.get_config('tasks=16').model.num_hops, 3)
    full = module.get_config('tasks=7,ext=am+ng+nl')
    self.assertEqual((full.model.num_hops, full.model.ngram_sizes,
                      full.model.hidden_size, full.model.ordered_facts),
                     (8, (2, 3), 100, True))
    self.assertEqual(module.get_config('tasks=0,ext=am').model.num_hops, 8)
    self.assertEqual(module.get_config('tasks=1,ext=am').model.num_hops, 2)
    with self.assertRaisesRegex(ValueError, 'ext='):
      module.get_config('ext=am+xx')
    model, _ = setup.build(module.get_config('runlocal,ext=am+ng+nl'))
    self.assertEqual(model.hidden_size, 100)

  def test_parse_arg(self):
    arg = common.parse_arg('model=lstm,runlocal', model='ntm', task='copy',
                           runlocal=False)
    self.assertEqual((arg.model, arg.task, arg.runlocal),
                     ('lstm', 'copy', True))
    with self.assertRaisesRegex(ValueError, "Unknown config argument 'modl'"):
      common.parse_arg('modl=lstm', model='ntm')

  def test_train_config_rejects_unknown_names(self):
    train_config = _load('train')
    with self.assertRaisesRegex(ValueError, 'Unknown model'):
      train_config.get_config('model=dnc7')
    with self.assertRaisesRegex(ValueError, 'Unknown task'):
      train_config.get_config('task=sorting')


if __name__ == '__main__':
  absltest.main()
