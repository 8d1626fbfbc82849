#!/usr/bin/env bash
# Trains every NTM / LSTM algorithmic-task config used in README.md.
# Usage: experiments/ntm_algorithmic/run_all.sh [RUNS_ROOT] [QUEUE]
#   QUEUE: a (NTM copy seeds, NTM assoc. recall, NTM repeat copy, NTM n-grams)
#          b (LSTM copy and assoc. recall, NTM priority sort)
#          c (the other LSTM baselines, not yet run for README.md)
#          d (a second seed of NTM repeat copy, 150,000 steps as seed 0)
#          e (a second seed of NTM n-grams)
#   default: a then b.
# Each run resumes from its checkpoints when re-launched.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=${1:-runs}
queue=${2:-ab}
py=${PYTHON:-.venv/bin/python}
run() {  # config seed [overrides...]
  local name=$1 seed=$2 dir="$root/$1/seed$2"
  shift 2
  mkdir -p "$dir"
  echo "$(date -u +%FT%TZ) start $name seed $seed" >> "$root/queue.log"
  /usr/bin/time -f "%e s wall" "$py" -m memax.main --config="configs/$name.py" \
      --workdir="$dir" --config.seed="$seed" "$@" >> "$dir/train.log" 2>&1
  echo "$(date -u +%FT%TZ) end $name seed $seed rc=$?" >> "$root/queue.log"
}
if [[ $queue == *a* ]]; then
  for s in 0 1 2; do run ntm_copy $s; done
  run ntm_associative_recall 0
  run ntm_repeat_copy 0
  run ntm_ngrams 0
fi
if [[ $queue == *b* ]]; then
  run lstm_copy 0
  run lstm_associative_recall 0
  run ntm_priority_sort 0
fi
if [[ $queue == *c* ]]; then
  run lstm_repeat_copy 0
  run lstm_priority_sort 0
  run lstm_ngrams 0
fi
if [[ $queue == *d* ]]; then
  run ntm_repeat_copy 1 --config.train.num_steps=150000
fi
if [[ $queue == *e* ]]; then
  run ntm_ngrams 1
fi
