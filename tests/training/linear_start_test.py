"""Tests for `memax.training.linear_start` (MemN2N sec. 4.2 linear start)."""

import json
import os
import tempfile

from absl.testing import absltest

from memax import models
from memax.models import memn2n
from memax.training import linear_start


class PlateauSwitchTest(absltest.TestCase):

  def test_ends_at_the_first_loss_that_does_not_decrease(self):
    with tempfile.TemporaryDirectory() as workdir:
      switch = linear_start.PlateauSwitch(workdir)
      self.assertTrue(switch.active)
      self.assertFalse(switch.update(10, 3.0))
      self.assertFalse(switch.update(20, 2.5))
      self.assertTrue(switch.update(30, 2.5))  # equal is not a decrease.
      self.assertFalse(switch.active)
      with open(os.path.join(workdir, linear_start.FILENAME)) as f:
        saved = json.load(f)
      self.assertEqual(saved['end_step'], 30)
      self.assertEqual(saved['best_valid_loss'], 2.5)
      # A resumed run reads the decision back.
      self.assertFalse(linear_start.PlateauSwitch(workdir).active)

  def test_resumed_switch_keeps_the_best_loss(self):
    with tempfile.TemporaryDirectory() as workdir:
      linear_start.PlateauSwitch(workdir).update(10, 2.0)
      switch = linear_start.PlateauSwitch(workdir)
      self.assertTrue(switch.update(20, 2.1))
      self.assertEqual(switch.state['end_step'], 20)

  def test_apply_rebuilds_the_model_with_the_end_step(self):
    model = models.build({'name': 'memn2n', 'linear_start_epochs': -1}, 10,
                         input_size=10, steps_per_epoch=7)
    self.assertIsInstance(model, memn2n.MemN2N)
    self.assertTrue(linear_start.is_until_plateau(model))
    with tempfile.TemporaryDirectory() as workdir:
      self.assertIs(linear_start.apply(model, workdir), model)
      switch = linear_start.PlateauSwitch(workdir)
      switch.update(7, 1.0)
      switch.update(14, 1.5)
      self.assertEqual(
          linear_start.apply(model, workdir).linear_start_steps, 14)

  def test_fixed_epochs_convert_to_steps(self):
    model = models.build({'name': 'memn2n', 'linear_start_epochs': 3}, 10,
                         input_size=10, steps_per_epoch=7)
    self.assertEqual(model.linear_start_steps, 21)
    self.assertFalse(linear_start.is_until_plateau(model))
    with self.assertRaisesRegex(ValueError, 'linear_start_epochs'):
      models.build({'name': 'memn2n', 'linear_start_epochs': -2}, 10,
                   input_size=10, steps_per_epoch=7)


if __name__ == '__main__':
  absltest.main()
