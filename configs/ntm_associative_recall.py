"""NTM on associative recall (Graves et al. 2014, sec. 4).

Command:
  python -m memax.main --config=configs/ntm_associative_recall.py \
      --workdir=runs/ntm_associative_recall
Measured results: experiments/ntm_algorithmic/README.md.
"""

import ml_collections

from configs import train


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = train.get_config('model=ntm,task=associative_recall' + (f',{arg}' if arg else ''))
  return config
