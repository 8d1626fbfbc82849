"""Task config fragments with the NTM paper's settings (Graves et al. 2014)."""

import ml_collections


def copy() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'copy'
  c.num_bits = 8                 # bits per vector.
  c.min_length = 1               # training lengths: uniform in [min, max].
  c.max_length = 20
  c.eval_lengths = (20, 40, 80, 120)  # evaluation variants.
  c.length_per_batch = False     # one length per batch (pytorch-ntm); the
                                 # model then skips the padded steps.
  c.num_sequences = 1            # copies in a row (the DNC's memory reuse).
  c.eval_sequences = ()          # series lengths of extra eval variants.
  return c


def repeat_copy() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'repeat_copy'
  c.num_bits = 8
  c.min_length = 1               # sequence length: uniform in [min, max].
  c.max_length = 10
  c.min_repeats = 1              # repeats: uniform in [min, max].
  c.max_repeats = 10
  c.repeat_normaliser = 10       # the repeat channel shows repeats / this.
  c.eval_settings = ((10, 10), (20, 10), (10, 20), (20, 20))  # (length, reps)
  return c


def associative_recall() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'associative_recall'
  c.num_bits = 6                 # bits per vector.
  c.item_length = 3              # vectors per item.
  c.min_items = 2                # items: uniform in [min, max].
  c.max_items = 6
  c.eval_items = (6, 12, 20)     # evaluation variants.
  return c


def priority_sort() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'priority_sort'
  c.num_bits = 8
  c.num_inputs = 20              # vectors with priorities in [-1, 1].
  c.num_outputs = 16             # highest-priority vectors, sorted.
  return c


def ngrams() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'ngrams'
  c.order = 6                    # 6-grams: 5 bits of context.
  c.length = 200                 # bits per sequence.
  return c


def omniglot() -> ml_collections.ConfigDict:
  """Omniglot episodes, Santoro et al. 2016 (5 classes, one-hot labels)."""
  c = ml_collections.ConfigDict()
  c.name = 'omniglot'
  c.data_dir = ''                # folder of images_background.zip and
                                 # images_evaluation.zip; '' = the variable
                                 # MEMAX_OMNIGLOT_DIR, else
                                 # ../shared/data/omniglot.
  c.num_classes = 5              # classes per episode.
  c.episode_length = 50          # steps (images) per episode.
  c.labels = 'one_hot'           # or 'string': 5-character strings over 5
                                 # symbols, five-hot (the paper's 15-way).
  c.string_length = 5
  c.string_alphabet = 5
  c.class_draw = 'random'        # each step's class uniform, or 'uniform':
                                 # exactly length / classes per class.
  c.augment = True               # k x 90 degree rotation per class, small
                                 # rotation and translation per image.
  c.max_rotation = 11.25         # small rotation per image, +- degrees.
  c.max_shift = 10               # translation per image, +- pixels at 105 px.
  c.image_size = 20              # down-sampled side (20 x 20 = 400 inputs).
  c.supersample = 3              # points averaged per output pixel and axis.
  c.eval_classes = ()            # string labels: also evaluate episodes of
                                 # these many test classes.
  return c


def babi_words() -> ml_collections.ConfigDict:
  """bAbI word by word, the DNC paper's protocol (Graves et al. 2016).

  One sequence per story, one word per step, the answer words at '-' steps
  (`memax.tasks.babi_words`); recurrent models get one-hot words.
  """
  c = ml_collections.ConfigDict()
  c.name = 'babi_words'
  c.data_dir = ''                # archive or folder; '' = the variable
                                 # MEMAX_BABI_DIR, else ../shared/data/babi.
  c.set_name = 'en-10k'          # 'en' (1k) or 'en-10k' (the paper's).
  c.tasks = 0                    # 1..20, or 0 = joint (all 20, the paper's).
  c.val_fraction = 0.1           # train stories held out, per task.
  c.split_seed = 0               # the held-out split (not the model seed).
  c.pool_batches = 50            # batches per length-sorted pool: a batch
                                 # holds stories of similar length (1 =
                                 # plain epoch shuffling).
  c.inputs = 'one_hot'           # or 'ids' (int32, for a model that embeds).
  c.allow_missing = True         # a missing train file (the shared en-10k
                                 # lacks qa3's) is logged and skipped; its
                                 # task is still tested.
  c.strict_counts = True         # fail on a file without the release's
                                 # question count; False: warn.
  c.max_train_length = 0         # > 0: drop longer training stories
                                 # (DAM's recipe: 800 steps).
  return c


def representation_recall() -> ml_collections.ConfigDict:
  """DAM's representation recall (Park et al. 2021, taewonpark/DAM)."""
  c = ml_collections.ConfigDict()
  c.name = 'representation_recall'
  c.num_items = 8                # stored items, distinct in every segment.
  c.num_segments = 8             # segments per item (even: half are hidden).
  c.segment_size = 8             # bits per segment (items of 64 bits).
  c.min_queries = 8              # queries: uniform in [min, max].
  c.max_queries = 16
  c.eval_queries = ()            # query counts of extra eval variants.
  return c


def nth_farthest() -> ml_collections.ConfigDict:
  """N-th farthest (Santoro et al. 2018), as DAM trains it."""
  c = ml_collections.ConfigDict()
  c.name = 'nth_farthest'
  c.num_vectors = 8              # vectors (and labels, and classes).
  c.vector_size = 16             # dimensions, uniform in [-1, 1].
  c.test_size = 3200             # the fixed test set ('test', exhaustive).
  c.test_seed = 0                # its key (not the model seed).
  return c


def convex_hull() -> ml_collections.ConfigDict:
  """Convex hull (Vinyals et al. 2015), DAM's recurrent encoding."""
  c = ml_collections.ConfigDict()
  c.name = 'convex_hull'
  c.min_points = 5               # training points: uniform in [min, max].
  c.max_points = 20              # also fixes the classes (P + 1) and T.
  c.eval_points = (5, 10)        # generated evaluation variants.
  c.num_points = 0               # 0: n varies; else every example has n.
  c.train_file = ''              # Pointer Networks file ('' = generate).
  c.test_file = ''               # a file for the exhaustive 'test' split.
  c.permute_test_labels = False  # 'test' labels: file indices (the code's).
  return c


# Small settings of each task for smoke tests and CI (`runlocal`).
RUNLOCAL = {
    'copy': dict(max_length=4, eval_lengths=(4, 8)),
    'repeat_copy': dict(max_length=3, max_repeats=2, repeat_normaliser=2,
                        eval_settings=((3, 3),)),
    'associative_recall': dict(max_items=3, eval_items=(4,)),
    'priority_sort': dict(num_inputs=6, num_outputs=4),
    'ngrams': dict(order=3, length=24),
    'omniglot': dict(num_classes=3, episode_length=9, image_size=6,
                     supersample=2),
    'babi_words': dict(set_name='en', tasks=1, pool_batches=2),
    'representation_recall': dict(num_items=3, num_segments=4,
                                  segment_size=3, min_queries=2,
                                  max_queries=3),
    'nth_farthest': dict(num_vectors=4, vector_size=3, test_size=8),
    'convex_hull': dict(min_points=3, max_points=5, eval_points=(4,)),
}


REGISTRY = {
    'copy': copy,
    'repeat_copy': repeat_copy,
    'associative_recall': associative_recall,
    'priority_sort': priority_sort,
    'ngrams': ngrams,
    'omniglot': omniglot,
    'babi_words': babi_words,
    'representation_recall': representation_recall,
    'nth_farthest': nth_farthest,
    'convex_hull': convex_hull,
}


def get(name: str) -> ml_collections.ConfigDict:
  if name not in REGISTRY:
    raise ValueError(f'Unknown task {name!r} in the config argument; '
                     f'expected one of {sorted(REGISTRY)}.')
  return REGISTRY[name]()
