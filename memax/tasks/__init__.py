"""Tasks, looked up by name in one explicit registry."""

from typing import Any, Callable

from memax.tasks import base
from memax.tasks.associative_recall import AssociativeRecall
from memax.tasks.babi import BabiTask
from memax.tasks.babi_words import BabiWordsTask
from memax.tasks.convex_hull import ConvexHull
from memax.tasks.copy import Copy
from memax.tasks.ngrams import DynamicNGrams
from memax.tasks.nth_farthest import NthFarthest
from memax.tasks.omniglot import OmniglotEpisodes
from memax.tasks.priority_sort import PrioritySort
from memax.tasks.repeat_copy import RepeatCopy
from memax.tasks.representation_recall import RepresentationRecall

REGISTRY: dict[str, Callable[..., base.Task]] = {
    'copy': Copy,
    'repeat_copy': RepeatCopy,
    'associative_recall': AssociativeRecall,
    'priority_sort': PrioritySort,
    'ngrams': DynamicNGrams,
    'babi': BabiTask,
    'babi_words': BabiWordsTask,
    'omniglot': OmniglotEpisodes,
    'representation_recall': RepresentationRecall,
    'nth_farthest': NthFarthest,
    'convex_hull': ConvexHull,
}


def build(config: Any) -> base.Task:
  """Builds the task named by `config.name` from the other fields of `config`.

  Args:
    config: a ConfigDict (or mapping) with `name` plus the task's fields.

  Returns:
    The task.

  Raises:
    ValueError: naming `config.task.name` when the name is unknown, or the
      unexpected field.
  """
  fields = dict(config)
  name = fields.pop('name', None)
  if name not in REGISTRY:
    raise ValueError(f'Unknown task config.task.name={name!r}; expected one '
                     f'of {sorted(REGISTRY)}.')
  for key, value in fields.items():
    if isinstance(value, list):
      fields[key] = tuple(value)
  try:
    return REGISTRY[name](**fields)
  except TypeError as e:
    raise ValueError(f'Bad field in config.task for task {name!r}: {e}') from e
