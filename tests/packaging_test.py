"""The package's requirements: compatible ranges in pyproject.toml, and the
exact tested set in constraints.txt that `make` installs and CI tests."""

import os
import tomllib

from absl.testing import absltest
from packaging import requirements
from packaging import utils
from packaging import version

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _project():
  with open(os.path.join(_ROOT, 'pyproject.toml'), 'rb') as f:
    return tomllib.load(f)['project']


def _pins():
  """`{normalised name: version}` from constraints.txt."""
  pins = {}
  with open(os.path.join(_ROOT, 'constraints.txt')) as f:
    for line in f:
      line = line.split('#')[0].strip()
      if not line:
        continue
      req = requirements.Requirement(line)
      (spec,) = req.specifier  # exactly one `==` per line
      assert spec.operator == '==', line
      pins[utils.canonicalize_name(req.name)] = version.Version(spec.version)
  return pins


class PackagingTest(absltest.TestCase):

  def test_dependencies_are_ranges_with_lower_bounds(self):
    project = _project()
    reqs = project['dependencies'] + project['optional-dependencies']['test']
    for line in reqs:
      req = requirements.Requirement(line)
      operators = {s.operator for s in req.specifier}
      self.assertNotIn('==', operators, f'{line}: a range, not a pin')
      self.assertIn('>=', operators, f'{line}: needs a lower bound')

  def test_constraints_pin_every_requirement_inside_its_range(self):
    project = _project()
    pins = _pins()
    reqs = project['dependencies'] + project['optional-dependencies']['test']
    for line in reqs:
      req = requirements.Requirement(line)
      name = utils.canonicalize_name(req.name)
      self.assertIn(name, pins, f'constraints.txt does not pin {req.name}')
      self.assertTrue(req.specifier.contains(pins[name]),
                      f'constraints.txt pins {name}=={pins[name]}, outside '
                      f'pyproject.toml\'s {line!r}')

  def test_gpu_extras_name_jax_cuda_wheels(self):
    extras = _project()['optional-dependencies']
    for cuda in ('cuda12', 'cuda13'):
      (line,) = extras[cuda]
      req = requirements.Requirement(line)
      self.assertEqual((req.name, req.extras), ('jax', {cuda}))


if __name__ == '__main__':
  absltest.main()
