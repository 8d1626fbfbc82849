"""Tests for `memax.overrides`: the one `--config.a.b=value` syntax."""

from absl.testing import absltest
import ml_collections

from configs import train as train_config
from memax import overrides


def _config():
  return train_config.get_config('model=lstm,task=copy')


class ApplyTest(absltest.TestCase):

  def test_values_are_parsed_by_the_fields_type(self):
    config = _config()
    out = overrides.apply(config, [
        'model.hidden_size=64', 'optimizer.learning_rate=3e-4',
        'task.eval_lengths=30,60', 'evals.plot=false',
        '--config.evals.variants=length_30', 'train.best_metric=off'])
    self.assertEqual(out.model.hidden_size, 64)
    self.assertEqual(out.optimizer.learning_rate, 3e-4)
    self.assertEqual(out.task.eval_lengths, (30, 60))
    self.assertIs(out.evals.plot, False)
    self.assertEqual(out.evals.variants, 'length_30')
    self.assertEqual(out.train.best_metric, 'off')
    # A scalar for a tuple field, an int for a float field.
    out = overrides.apply(config, ['task.eval_lengths=50',
                                   'optimizer.learning_rate=1'])
    self.assertEqual(out.task.eval_lengths, (50,))
    self.assertIsInstance(out.optimizer.learning_rate, float)
    # The input is unchanged; a mapping of values works too.
    self.assertEqual(config.model.hidden_size,
                     _config().model.hidden_size)
    out = overrides.apply(config, {'seed': 7, 'model.num_layers': 2})
    self.assertEqual((out.seed, out.model.num_layers), (7, 2))

  def test_errors_name_the_field(self):
    config = _config()
    with self.assertRaisesRegex(ValueError, r'config\.model\.hiden_size'):
      overrides.apply(config, ['model.hiden_size=3'])
    with self.assertRaisesRegex(ValueError, r'config\.modle'):
      overrides.apply(config, ['modle.hidden_size=3'])
    with self.assertRaisesRegex(ValueError, r'model\.hidden_size'):
      overrides.apply(config, ['model.hidden_size=big'])
    with self.assertRaisesRegex(ValueError, r'evals\.plot'):
      overrides.apply(config, ['evals.plot=maybe'])
    with self.assertRaisesRegex(ValueError, 'field.path=value'):
      overrides.apply(config, ['model.hidden_size'])
    with self.assertRaisesRegex(ValueError, r'model\.hidden_size'):
      overrides.apply(config, {'model.hidden_size': 'big'})

  def test_split_argv_takes_the_config_flags_out(self):
    rest, found = overrides.split_argv(
        ['prog', '--workdir=w', '--config.model.hidden_size=8', '--best'])
    self.assertEqual(rest, ['prog', '--workdir=w', '--best'])
    self.assertEqual(found, ['model.hidden_size=8'])
    self.assertEqual(overrides.describe(found), ['model.hidden_size=8'])
    self.assertEqual(overrides.describe({'a.b': 1}), ['a.b=1'])

  def test_nested_dicts_are_fields(self):
    config = ml_collections.ConfigDict({'train': {'loss_weights': {
        'task': 1.0}}})
    out = overrides.apply(config, ['train.loss_weights.task=0'])
    self.assertEqual(out.train.loss_weights.task, 0.0)


if __name__ == '__main__':
  absltest.main()
