#!/usr/bin/env bash
# Trains every NTM / LSTM algorithmic-task config used in README.md.
# Usage: experiments/ntm_algorithmic/run_all.sh [RUNS_ROOT] [QUEUE]
#   QUEUE: a (NTM copy seeds, NTM assoc. recall, NTM repeat copy, NTM n-grams)
#          b (LSTM copy and assoc. recall, NTM priority sort)
#          c (the other LSTM baselines, not yet run for README.md)
#          d (a second seed of NTM repeat copy, 150,000 steps as seed 0)
#          e (a second seed of NTM n-grams)
#          f (NTM priority sort with the paper's feedforward controller:
#             512 units, 8 read and 8 write heads; 1,000,000 steps allowed)
#          g (NTM priority sort with the paper's LSTM controller size, 2 x 100)
#          h (as f, with learning rate 1e-4 instead of the paper's 3e-5)
#   default: a then b.
# Each run resumes from its checkpoints when re-launched.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=${1:-runs}
queue=${2:-ab}
py=${PYTHON:-.venv/bin/python}
run() {  # config seed [overrides...]
  run_as "$1" "$@"
}
run_as() {  # run-name config seed [overrides...]: workdir RUNS/run-name/seedS
  local dir="$root/$1/seed$3" name=$2 seed=$3
  shift 3
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
if [[ $queue == *f* ]]; then
  run_as ntm_priority_sort_ff ntm_priority_sort 0 \
      --config.model.controller=feedforward \
      --config.model.controller_size=512 --config.model.num_read_heads=8 \
      --config.model.num_write_heads=8 --config.train.num_steps=1000000
fi
if [[ $queue == *g* ]]; then
  run_as ntm_priority_sort_2x100 ntm_priority_sort 0 \
      --config.model.controller_layers=2 --config.train.num_steps=1000000
fi
if [[ $queue == *h* ]]; then
  run_as ntm_priority_sort_ff_lr1e-4 ntm_priority_sort 0 \
      --config.model.controller=feedforward \
      --config.model.controller_size=512 --config.model.num_read_heads=8 \
      --config.model.num_write_heads=8 --config.optimizer.learning_rate=1e-4 \
      --config.train.num_steps=1000000
fi
