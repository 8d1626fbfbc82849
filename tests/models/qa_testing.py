"""Helpers shared by the bAbI-style QA model tests (MemN2N, KV-MemNN)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np


def random_batch(seed, batch, num_slots, length, vocab_size,
                 empty_last=True):
  """Left-aligned stories and queries; the last story is all-empty."""
  rng = np.random.default_rng(seed)
  story = np.zeros((batch, num_slots, length), np.int32)
  query = np.zeros((batch, length), np.int32)
  for b in range(batch):
    for i in range(rng.integers(1, num_slots + 1)):
      words = rng.integers(1, length + 1)
      story[b, i, :words] = rng.integers(1, vocab_size, size=words)
    words = rng.integers(1, length + 1)
    query[b, :words] = rng.integers(1, vocab_size, size=words)
  if empty_last:
    story[-1] = 0
  return {'story': story, 'query': query}


def random_params(model, seed, vocab_size):
  """Random N(0, 0.5^2) parameters with the module's structure.

  `jax.eval_shape` gives the structure without compiling `init` for every
  configuration; the tests check `init` itself separately.
  """
  shapes = jax.eval_shape(
      model.init, jax.random.key(0),
      random_batch(0, 1, 1, 1, vocab_size, empty_last=False))
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda s: jnp.asarray(0.5 * rng.normal(size=s.shape), s.dtype), shapes)


@functools.cache
def jitted(model):
  """`model.apply`, jitted once per (hashable) module configuration."""
  return jax.jit(model.apply, static_argnames='train')
