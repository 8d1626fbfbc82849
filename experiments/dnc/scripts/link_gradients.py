"""The DNC's gradients with the dense link and with the sparse one, at the
same parameters and on the same batch.

For each checkpoint of a DNC run, the model is built twice from the run's
config, with `model.link_sparsity=0` (dense) and `=K` (sparse), and the
gradient of the task's loss is taken on one batch of the training
distribution. Printed, one JSON line per checkpoint: both losses, and for
the whole gradient and each part of it (the controller, the interface
layer without its read-mode columns, the read-mode columns, the readout)
the cosine of the two gradients and the ratio of their norms (sparse /
dense).

  python experiments/dnc/scripts/link_gradients.py \
      --workdir=$RUNS/dnc_copy_pair/dense --steps=100,500,1000,1500,2000
"""

import argparse
import json
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from memax import cli  # pylint: disable=g-import-not-at-top
from memax import evaluate  # pylint: disable=g-import-not-at-top
from memax import overrides  # pylint: disable=g-import-not-at-top
from memax.training import setup  # pylint: disable=g-import-not-at-top


def parts(grads, num_modes: int) -> dict[str, np.ndarray]:
  """The gradient's parts as flat arrays (the DNC's parameter names)."""
  p = grads['params']
  kernel, bias = p['cell']['interface']['kernel'], p['cell']['interface']['bias']
  flat = lambda *xs: np.concatenate([np.ravel(np.asarray(x)) for x in xs])
  controller = [x for k, v in p['cell'].items() if k != 'interface'
                for x in jax.tree_util.tree_leaves(v)]
  return {
      'all': flat(*jax.tree_util.tree_leaves(p)),
      'controller': flat(*controller),
      'interface_but_modes': flat(kernel[:, :-num_modes], bias[:-num_modes]),
      'read_modes': flat(kernel[:, -num_modes:], bias[-num_modes:]),
      'readout': flat(*jax.tree_util.tree_leaves(p['readout'])),
  }


def compare(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
  na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
  cos = float(a @ b / (na * nb)) if na and nb else float('nan')
  return {'cosine': round(cos, 5), 'norm_ratio': round(nb / na, 5) if na
          else float('nan')}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--workdir', required=True)
  p.add_argument('--steps', required=True, help='checkpoint steps, a,b,c')
  p.add_argument('--link_sparsity', type=int, default=8)
  p.add_argument('--batch_size', type=int, default=64)
  p.add_argument('--seed', type=int, default=1)
  args = p.parse_args(argv)
  trained = cli.run_or_exit(evaluate.load_config, args.workdir)
  configs = {k: overrides.apply(trained, [f'model.link_sparsity={k}'])
             for k in (0, args.link_sparsity)}
  s = setup.setup(configs[0])
  task = s.task
  models = {k: setup.build_model(c, task) for k, c in configs.items()}
  batch = jax.jit(task.sample, static_argnums=1)(
      jax.random.key(args.seed), args.batch_size)
  num_modes = 3 * trained.model.num_read_heads

  def loss_fn(model):
    return lambda params: task.loss(model.apply(params, batch.inputs).logits,
                                    batch)

  grad_fns = {k: jax.jit(jax.value_and_grad(loss_fn(m)))
              for k, m in models.items()}
  for step in [int(x) for x in args.steps.split(',')]:
    state, step = cli.run_or_exit(evaluate.load_params, trained,
                                  args.workdir, step, task=task)
    (dense_loss, dense), (sparse_loss, sparse) = (
        grad_fns[k](state.params) for k in (0, args.link_sparsity))
    a, b = parts(dense, num_modes), parts(sparse, num_modes)
    print(json.dumps({
        'workdir': args.workdir, 'step': step, 'batch_seed': args.seed,
        'loss_dense': round(float(dense_loss), 5),
        'loss_sparse': round(float(sparse_loss), 5),
        **{name: compare(a[name], b[name]) for name in a}}), flush=True)


if __name__ == '__main__':
  main()
