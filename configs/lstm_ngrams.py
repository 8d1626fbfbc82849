"""LSTM on ngrams (Graves et al. 2014, sec. 4).

Command:
  python -m memax.main --config=configs/lstm_ngrams.py \
      --workdir=runs/lstm_ngrams
Measured results: experiments/ntm_algorithmic/README.md.
"""

import ml_collections

from configs import train


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = train.get_config('model=lstm,task=ngrams' + (f',{arg}' if arg else ''))
  return config
