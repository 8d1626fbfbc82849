"""Model config fragments: `get(name)` -> ConfigDict with a comment per field."""

import ml_collections


def ntm() -> ml_collections.ConfigDict:
  """NTM with the paper's copy-task sizes (Graves et al. 2014, table 2)."""
  c = ml_collections.ConfigDict()
  c.name = 'ntm'
  c.controller = 'lstm'          # 'lstm' or 'feedforward'.
  c.controller_size = 100        # controller units C (per layer).
  c.controller_layers = 1        # stacked controller layers (paper: 2 for
                                 # priority sort's LSTM controller).
  c.memory_size = 128            # slots N; can change at evaluation time.
  c.word_size = 20               # word size W.
  c.num_read_heads = 1           # R.
  c.num_write_heads = 1          # H.
  c.addressing = 'content_and_location'  # or 'content'.
  c.shift_range = 1              # r: shifts -r..r (width 2r+1).
  c.memory_init = 'constant'     # 'constant', 'learned' or 'random'.
  c.memory_init_value = 1e-6     # the constant, or the random init's std.
  c.clip_value = 20.0            # clip interface pre-activations; 0 = off.
  c.eps = 1e-6                   # numerical floor of the addressing ops.
  c.head_order = 'write_first'   # or 'read_first' (pytorch-ntm's order).
  c.unroll = 1                   # scan steps per loop iteration (speed only).
  c.remat = False                # recompute steps in the backward pass.
  return c


def mann() -> ml_collections.ConfigDict:
  """MANN with LRUA memory, the sizes of Santoro et al. 2016 (Omniglot)."""
  c = ml_collections.ConfigDict()
  c.name = 'mann'
  c.controller_size = 200        # LSTM controller units C.
  c.memory_size = 128            # slots N; can change at evaluation time.
  c.word_size = 40               # word size W.
  c.num_heads = 4                # R read heads, and as many write heads.
  c.write_vector = 'separate'    # 'separate' add vector (both public
                                 # implementations) or 'key' (the paper).
  c.least_used = 'per_head'      # head i -> (i+1)-th least-used slot, or
                                 # 'shared': one indicator with R ones.
  c.read_addressing = 'written'  # keys against the memory after the write
                                 # (the paper), or 'previous' (snowkylin).
  c.gamma = 0.95                 # usage decay (paper's text: 0.99).
  c.key_strength = False         # learn a key strength per head.
  c.memory_init_value = 1e-6     # constant initial memory.
  c.clip_value = 20.0            # clip interface pre-activations; 0 = off.
  c.eps = 1e-6                   # floor of the cosine similarity.
  c.forget_bias = 1.0            # the controller's forget-gate bias.
  c.unroll = 1                   # scan steps per loop iteration (speed only).
  c.remat = False                # recompute steps in the backward pass.
  return c


def dnc() -> ml_collections.ConfigDict:
  """DNC with deepmind/dnc's repeat-copy sizes (Graves et al. 2016)."""
  c = ml_collections.ConfigDict()
  c.name = 'dnc'
  c.controller = 'lstm'          # 'lstm' or 'feedforward'.
  c.controller_size = 64         # controller units C (per layer).
  c.controller_layers = 1        # the Methods' deep LSTM: layer l reads
                                 # [x; reads; h^(l-1)], output all layers.
  c.memory_size = 16             # slots N; can change at evaluation time.
  c.word_size = 16               # word size W.
  c.num_read_heads = 4           # R.
  c.num_write_heads = 1          # H (the paper: 1; deepmind/dnc's num_writes).
  c.strength = 'oneplus'         # key strengths: 'oneplus' (the paper) or
                                 # 'softplus' (deepmind/dnc).
  c.link_sparsity = 0            # 0: dense N x N link; K: K links per row.
  c.controller_clip = 20.0       # clip controller output and state; 0 = off.
  c.activation_grad_clip = 0.0   # clip gradients of the controller's
                                 # activations (the paper: 10); 0 = off.
  c.forget_bias = 1.0            # the controller's forget-gate bias.
  c.eps = 1e-6                   # floor of the content addressing.
  c.embedding_size = 0           # > 0: embed token ids (task.inputs='ids').
  c.unroll = 1                   # scan steps per loop iteration (speed only).
  c.remat = False                # recompute steps in the backward pass.
  return c


def dam() -> ml_collections.ConfigDict:
  """DAM with the sizes of taewonpark/DAM's copy command (Park et al. 2021)."""
  c = ml_collections.ConfigDict()
  c.name = 'dam'
  c.num_blocks = 2               # memory blocks K (1: DNC without link).
  c.controller_size = 128        # LSTM units C.
  c.memory_size = 64             # slots N per block; can change at evaluation.
  c.word_size = 36               # word size W.
  c.num_read_heads = 1           # R (one write head per block).
  c.strength = 'softplus'        # key strengths: 'softplus' (the code) or
                                 # 'oneplus' (the DNC paper).
  c.controller_clip = 20.0       # clip controller output and state; 0 = off.
  c.layer_norm = True            # layer-normalise the controller output.
  c.forget_bias = 1.0            # the controller's forget-gate bias.
  c.eps = 1e-6                   # floor of the content addressing.
  c.embedding_size = 0           # > 0: embed token ids (task.inputs='ids').
  c.readout_dropout = 0.1        # dropout of the controller output before
                                 # the readout, in training (keep 0.9).
  c.readout_layers = ()          # ReLU layers before the linear readout.
  c.output_clip = 20.0           # clip the logits; 0 = off.
  c.unroll = 1                   # scan steps per loop iteration (speed only).
  c.remat = False                # recompute steps in the backward pass.
  return c


def lstm() -> ml_collections.ConfigDict:
  """LSTM baseline; one layer of the NTM controller's size by default."""
  c = ml_collections.ConfigDict()
  c.name = 'lstm'
  c.hidden_size = 100            # units per layer.
  c.num_layers = 1               # stacked layers (the paper: 3 x 256).
  c.forget_bias = 1.0            # added to the forget gate.
  c.unroll = 1                   # scan steps per loop iteration (speed only).
  c.remat = False                # recompute steps in the backward pass.
  return c


REGISTRY = {'ntm': ntm, 'mann': mann, 'dnc': dnc, 'dam': dam, 'lstm': lstm}


def get(name: str) -> ml_collections.ConfigDict:
  if name not in REGISTRY:
    raise ValueError(f'Unknown model {name!r} in the config argument; '
                     f'expected one of {sorted(REGISTRY)}.')
  return REGISTRY[name]()
