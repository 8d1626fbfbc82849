"""NTM on repeat copy (Graves et al. 2014, sec. 4).

Command:
  python -m memax.main --config=configs/ntm_repeat_copy.py \
      --workdir=runs/ntm_repeat_copy
Measured results: experiments/ntm_algorithmic/README.md.
"""

import ml_collections

from configs import train


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = train.get_config('model=ntm,task=repeat_copy' + (f',{arg}' if arg else ''))
  return config
