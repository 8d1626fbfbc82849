"""Populations: K models in one compiled, vmapped step."""

import json
import os
import tempfile

from absl.testing import absltest
import jax
import numpy as np

from configs import train as train_config
from memax import evaluate
from memax.training import checkpoint
from memax.training import setup
from memax.training import train
from tests.training import device_testing


def _config(**fields):
  config = train_config.get_config('model=lstm,task=copy,runlocal')
  config.train.num_steps = 6
  config.train.eval_every = 6
  config.train.ckpt_every = 2
  config.evals.plot = False
  config.tensorboard = False
  # One length variant (runlocal has two): each variant is evaluated per
  # member and per run.
  config.task.eval_lengths = (8,)
  for path, value in fields.items():
    section, leaf = path.split('__')
    config[section][leaf] = value
  return config


def _train_lines(workdir, member=None):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    lines = [json.loads(line) for line in f]
  return [r for r in lines if r['split'] == 'train' and 'cost_bits' in r
          and r.get('member') == member]


class PopulationTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.TemporaryDirectory()
    cls.pop_dir = os.path.join(cls.root.name, 'population')
    cls.config = _config(population__seeds='0,1',
                         population__sweep='optimizer.learning_rate=1e-3,1e9')
    cls.results = train.train_and_evaluate(cls.config, cls.pop_dir)

  @classmethod
  def tearDownClass(cls):
    cls.root.cleanup()
    super().tearDownClass()

  def test_members_are_the_product_of_seeds_and_sweep(self):
    members = [m['overrides'] for m in self.results['members']]
    self.assertEqual(members, [
        {'seed': 0, 'optimizer.learning_rate': 1e-3},
        {'seed': 0, 'optimizer.learning_rate': 1e9},
        {'seed': 1, 'optimizer.learning_rate': 1e-3},
        {'seed': 1, 'optimizer.learning_rate': 1e9}])

  def test_a_member_equals_the_single_run(self):
    single_dir = tempfile.mkdtemp(dir=self.root.name)
    config = _config(optimizer__learning_rate=1e-3)
    config.seed = 1
    single = train.train_and_evaluate(config, single_dir)
    member = self.results['members'][2]
    for name in ('train', 'length_8'):
      for metric, value in single[name].items():
        np.testing.assert_allclose(member[name][metric], value, rtol=1e-5,
                                   err_msg=f'{name}/{metric}')
    ours = _train_lines(self.pop_dir, member=2)
    theirs = _train_lines(single_dir)
    self.assertEqual([r['step'] for r in ours], [r['step'] for r in theirs])
    np.testing.assert_allclose([r['loss'] for r in ours],
                               [r['loss'] for r in theirs], rtol=1e-5)
    # Training's final JSON of the member records its overrides.
    with open(os.path.join(self.pop_dir, 'eval', 'member2',
                           'train.json')) as f:
      record = json.load(f)
    self.assertEqual(record['overrides'],
                     {'seed': 1, 'optimizer.learning_rate': 1e-3})

  def test_a_diverging_member_stops_alone(self):
    mngr = checkpoint.manager(self.pop_dir, read_only=True)
    s = setup.setup(self.config)
    state = checkpoint.restore(mngr, s.abstract_state, mngr.latest_step())
    mngr.close()
    done = np.asarray(state.done)
    steps = np.asarray(state.step)
    np.testing.assert_array_equal(done, [False, True, False, True])
    self.assertTrue(np.all(steps[~done] == 6))
    self.assertTrue(np.all(steps[done] < 6))
    for i in (0, 2):
      self.assertTrue(np.isfinite(self.results['members'][i]['train'][
          'cost_bits']))
    with open(os.path.join(self.pop_dir, 'metrics.jsonl')) as f:
      stops = [json.loads(line) for line in f if '"status"' in line]
    self.assertEqual(sorted(r['member'] for r in stops), [1, 3])

  def test_resumes_exactly(self):
    workdir = tempfile.mkdtemp(dir=self.root.name)
    short = _config(population__seeds='0,1',
                    population__sweep='optimizer.learning_rate=1e-3,1e9')
    short.train.num_steps = 2
    train.train_and_evaluate(short, workdir)
    resumed = train.train_and_evaluate(self.config, workdir)
    for a, b in zip(resumed['members'], self.results['members']):
      for name in ('train', 'length_8'):
        np.testing.assert_allclose(a[name]['cost_bits'],
                                   b[name]['cost_bits'], rtol=1e-6)
    for member in (0, 2):
      np.testing.assert_allclose(
          [r['loss'] for r in _train_lines(workdir, member)],
          [r['loss'] for r in _train_lines(self.pop_dir, member)], rtol=1e-6)

  def test_memax_evaluate_reads_one_member(self):
    again = evaluate.run(self.pop_dir, [], member=2)
    self.assertEqual(set(again) - {'checkpoint_step', 'output_dir'},
                     {'train', 'length_8'})
    for name in ('train', 'length_8'):
      self.assertEqual(again[name], self.results['members'][2][name])
    self.assertIn('member2_step6', again['output_dir'])
    longer = evaluate.run(self.pop_dir, ['task.eval_lengths=12'], member=0)
    self.assertIn('length_12', longer)
    with self.assertRaisesRegex(ValueError, r'--member=<0\.\.3>'):
      evaluate.run(self.pop_dir, [])
    with self.assertRaisesRegex(ValueError, r'not 4'):
      evaluate.run(self.pop_dir, [], member=4)

  def test_one_compiled_step_with_a_member_axis(self):
    s = setup.setup(self.config)
    state = s.init_state()
    self.assertEqual(jax.tree.leaves(state.params)[0].shape[0], 4)
    lr = np.asarray(state.opt_state.hyperparams['learning_rate'])
    np.testing.assert_allclose(lr, [1e-3, 1e9, 1e-3, 1e9], rtol=1e-6)
    new, metrics, losses = s.chunk()(state, s.keys.train, s.data)
    self.assertEqual(np.shape(metrics['loss']), (4,))
    self.assertEqual(np.shape(losses), (2, 4))
    # Two members at a time under a lax.map, and one at a time through the
    # unbatched steps: the same numbers.
    for size in (2, 1):
      s.config.population.vmap_size = size
      grouped_state, grouped, grouped_losses = s.chunk()(
          s.init_state(), s.keys.train, s.data)
      message = f'vmap_size={size}'
      np.testing.assert_allclose(grouped['loss'], metrics['loss'],
                                 rtol=1e-6, err_msg=message)
      np.testing.assert_allclose(grouped_losses, losses, rtol=1e-6,
                                 err_msg=message)
      # rtol 1e-4: the members at learning rate 1e9 reach parameters of
      # about 1e8, where the programs' different roundings show at 4e-5.
      for a, b in zip(jax.tree.leaves(grouped_state.params),
                      jax.tree.leaves(new.params)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7,
                                   err_msg=message)

  def test_bad_populations_are_refused_before_any_work(self):
    workdir = os.path.join(tempfile.mkdtemp(dir=self.root.name), 'run')
    for fields, pattern in [
        (dict(population__sweep='model.hidden_size=8,16'),
         r'config\.model\.hidden_size'),
        (dict(population__sweep='optimizer.learning_rat=1e-3'),
         r'learning_rat'),
        (dict(population__seeds='0,x'), r'config\.population\.seeds'),
        (dict(population__seeds='0,1', train__length_buckets=2),
         r'config\.train\.length_buckets'),
        (dict(population__sweep='optimizer.grad_clip_value=0,10'),
         r'grad_clip_value'),
        (dict(population__seeds='0,1', population__vmap_size=-1),
         r'config\.population\.vmap_size'),
        (dict(population__sweep='optimizer.decay_factor=0.5,0.1'),
         r'decay_factor'),
    ]:
      with self.subTest(pattern):
        with self.assertRaisesRegex(ValueError, pattern):
          train.train_and_evaluate(_config(**fields), workdir)
        self.assertFalse(os.path.exists(workdir))


_MEMBER_PARALLEL_SCRIPT = r'''
import sys, tempfile
import jax, numpy as np
if len(sys.argv) > 1:  # share the suite's compilation cache
  jax.config.update('jax_compilation_cache_dir', sys.argv[1])
from memax.training import checkpoint, setup, sharding, train
sharding.use_cpu_devices(2)
from configs import train as train_config

def config_of(devices, steps=4):
  config = train_config.get_config('model=lstm,task=copy,runlocal')
  config.train.num_steps = steps
  config.train.num_devices = devices
  config.population.seeds = '0,1'
  config.population.sweep = 'optimizer.learning_rate=0.001,0.003'
  config.evals.plot = False
  config.evals.variants = 'train'
  config.tensorboard = False
  return config

# The population on one device, then split over two (2 members each).
out, devices_used = [], []
for devices in (1, 2):
  s = setup.setup(config_of(devices))
  state, chunk = s.init_state(), s.chunk()
  key, data = s.chunk_inputs()
  for _ in range(2):
    state, _, _ = chunk(state, key, data)
  devices_used.append(len(jax.tree.leaves(state.params)[0].sharding.device_set))
  out.append(jax.device_get(state))
# Trained by the loop over two devices, 2 steps then resumed to 4.
with tempfile.TemporaryDirectory() as workdir:
  train.train_and_evaluate(config_of(2, steps=2), workdir)
  train.train_and_evaluate(config_of(2), workdir)
  s = setup.setup(config_of(2))
  out.append(jax.device_get(checkpoint.restore(
      checkpoint.manager(workdir, read_only=True), s.abstract_state)))
errors = []
for field, value in (('population.seeds', '0,1,2'),
                     ('population.vmap_size', 1)):
  config = config_of(2)
  config.population[field.split('.')[1]] = value
  if field == 'population.seeds':
    config.population.sweep = ''  # 3 members for 2 devices
  try:
    setup.setup(config)
  except ValueError as e:
    errors.append(field if f'config.{field}' in str(e) or
                  'config.train.num_devices' in str(e) else str(e))
print(devices_used, errors)
print(int(out[0].step[0]), int(out[2].step[0]), max(
    float(np.max(np.abs(a - b))) for other in out[1:] for a, b in zip(
        jax.tree.leaves(out[0].params), jax.tree.leaves(other.params))))
'''


class MemberParallelTest(absltest.TestCase):
  """A population split over two CPU devices on its member axis."""

  def test_two_devices_give_the_one_device_population(self):
    out = device_testing.run_script(self, _MEMBER_PARALLEL_SCRIPT)
    lines = out.strip().splitlines()
    self.assertEqual(lines[-2], "[1, 2] ['population.seeds', "
                     "'population.vmap_size']")
    ref_step, step, diff = lines[-1].split()
    self.assertEqual((int(ref_step), int(step)), (4, 4))
    self.assertLess(float(diff), 1e-6)


if __name__ == '__main__':
  absltest.main()
