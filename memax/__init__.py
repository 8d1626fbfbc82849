"""memax: memory-augmented neural networks in JAX/Flax."""

from memax import cells
from memax import models
from memax import ops
from memax import tasks
from memax.types import Batch
from memax.types import ModelOutput

__version__ = '0.1.0'

__all__ = ('Batch', 'ModelOutput', 'cells', 'models', 'ops', 'tasks')
