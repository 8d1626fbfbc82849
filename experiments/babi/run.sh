#!/usr/bin/env bash
# Trains the bAbI runs of experiments/babi/README.md.
# Usage: experiments/babi/run.sh RUNS_ROOT QUEUE [SEEDS]
#   QUEUE: memn2n_joint        MemN2N 3 hops PE LS RN, joint 1k, the paper's text
#                              (configs/memn2n_babi.py:tasks=0)
#          memn2n_code_joint   the same, the authors' code protocol
#                              (configs/memn2n_babi.py:tasks=0,protocol=code)
#          memn2n_code10k_joint
#                              the code protocol on en-10k (joint; 5 epochs of linear start)
#          kvmemnn_joint       KV-MemNN, the TensorFlow code's "bow" reader (centred PE),
#                              joint 1k (configs/kvmemnn_babi.py:tasks=0)
#          kvmemnn_bow_joint   KV-MemNN, plain bag of words (--config.model.encoding=bow)
#          kvmemnn_null_joint  KV-MemNN with empty slots in the softmax as zero keys
#                              and values, as the TensorFlow code
#                              (--config.model.mask_empty_slots=False)
#          memnn_joint         strongly supervised MemNN, joint 1k (configs/memnn_babi.py:tasks=0)
#          memn2n_single       MemN2N, one model per task, 1k (tasks 1..20)
#          memn2n_code_single  the same, the authors' code protocol
#          memn2n_codeall_joint
#                              the code protocol plus the code's per-matrix gradient
#                              clipping (word and time rows of a hop together) and
#                              its PE length (J = padded length + 1, the time word last)
#          memn2n_codenull_joint, memn2n_codenull_single, memn2n_codenull10k_joint
#                              the code protocol with empty memory slots in the
#                              softmax as zero vectors, as in the authors' code
#                              (protocol=code's default since session 6; the
#                              other memn2n_code* queues pass
#                              mask_empty_slots=True, as their results record)
#          memn2n_codels_joint, memn2n_codels_single
#                              ablation: the code's linear-start schedule with the
#                              paper's position encoding
#          memnn_single        MemNN, one model per task, 1k (tasks 1..20)
#          memnn_ngnl_single   MemNN, n-gram and nonlinear features in O and R (ablation)
#          memnn_amngnl_single MemNN with the AM, NG and NL extensions (ext=am+ng+nl)
#          memnn_amngnl_joint  the same, joint
#          memnn_amngnlr_single, memnn_amngnlr_joint
#                              the same with NG and NL in R only (extend_lookups=False)
#          memnn_amngnlo_single, memnn_amngnlro_single, memnn_amngnlo_joint
#                              memnn_amngnl(r) with each lookup's fact embedded by its
#                              own table in R (ordered_facts, the config's default now;
#                              the other MemNN queues pass ordered_facts=False)
#   SEEDS: default "0 1 2 3 4 5 6 7 8 9" for joint, "0" for single.
# Each run resumes from its checkpoints when re-launched; a finished run
# (eval/test.json present) is skipped. Runs go to RUNS_ROOT/<name>/seed<s>,
# where <name> is the queue name with _joint kept and _single replaced by
# _qa<t>.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=${1:?RUNS_ROOT}
queue=${2:?QUEUE}
py=${PYTHON:-.venv/bin/python}
run() {  # name config config_arg seed [overrides...]
  local name=$1 config=$2 arg=$3 seed=$4 dir="$root/$1/seed$4"
  shift 4
  if [[ -f "$dir/eval/test.json" ]]; then return; fi
  mkdir -p "$dir"
  echo "$(date -u +%FT%TZ) start $name seed $seed" >> "$root/queue.log"
  "$py" -m memax.main --config="configs/${config}_babi.py:$arg" \
      --workdir="$dir" --config.seed="$seed" "$@" >> "$dir/train.log" 2>&1
  echo "$(date -u +%FT%TZ) end $name seed $seed rc=$?" >> "$root/queue.log"
}
extra=()   # config arguments and overrides of the queue
# MemNN queues whose results predate ordered_facts as the config default
# keep the papers' R (one table for all facts), as their results record.
papers_r=(--config.model.ordered_facts=False)
# MemN2N code-protocol queues whose results predate its empty slots in the
# softmax (session 6) keep them masked, as their results record.
masked=(--config.model.mask_empty_slots=True)
case $queue in
  memn2n_joint|kvmemnn_joint) config=${queue%_joint}; arg=tasks=0 ;;
  memnn_joint) config=memnn; arg=tasks=0; extra=("${papers_r[@]}") ;;
  memn2n_code_joint) config=memn2n; arg=tasks=0,protocol=code; extra=("${masked[@]}") ;;
  memn2n_code10k_joint) config=memn2n; arg=tasks=0,set=en-10k,protocol=code
    extra=("${masked[@]}") ;;
  memn2n_codeall_joint) config=memn2n; arg=tasks=0,protocol=code
    extra=("${masked[@]}" --config.model.position_length=padded --config.optimizer.grad_clip_norm=0
           --config.optimizer.grad_clip_norm_per_param=40
           --config.optimizer.grad_clip_stacked=embeddings+temporal) ;;
  memn2n_codenull_joint) config=memn2n; arg=tasks=0,protocol=code ;;
  memn2n_codenull10k_joint) config=memn2n; arg=tasks=0,set=en-10k,protocol=code ;;
  kvmemnn_null_joint) config=kvmemnn; arg=tasks=0
    extra=(--config.model.mask_empty_slots=False) ;;
  kvmemnn_bow_joint) config=kvmemnn; arg=tasks=0
    extra=(--config.model.encoding=bow) ;;
  memn2n_codels_joint) config=memn2n; arg=tasks=0
    extra=(--config.train.linear_start_epochs=30 --config.train.num_epochs=90
           --config.optimizer.decay_start_epochs=30) ;;
  memn2n_codels_single) config=memn2n; arg=
    extra=(--config.train.linear_start_epochs=20 --config.train.num_epochs=120
           --config.optimizer.decay_start_epochs=20) ;;
  memn2n_single) config=memn2n; arg= ;;
  memnn_single) config=memnn; arg=; extra=("${papers_r[@]}") ;;
  memn2n_code_single) config=memn2n; arg=protocol=code,; extra=("${masked[@]}") ;;
  memn2n_codenull_single) config=memn2n; arg=protocol=code, ;;
  memnn_ngnl_single) config=memnn; arg=
    extra=("--config.model.ngram_sizes=(2,3)" --config.model.hidden_size=100
           "${papers_r[@]}") ;;
  memnn_amngnl_single) config=memnn; arg=ext=am+ng+nl,; extra=("${papers_r[@]}") ;;
  memnn_amngnl_joint) config=memnn; arg=tasks=0,ext=am+ng+nl; extra=("${papers_r[@]}") ;;
  memnn_amngnlr_single) config=memnn; arg=ext=am+ng+nl,
    extra=(--config.model.extend_lookups=False "${papers_r[@]}") ;;
  memnn_amngnlr_joint) config=memnn; arg=tasks=0,ext=am+ng+nl
    extra=(--config.model.extend_lookups=False "${papers_r[@]}") ;;
  memnn_amngnlo_single) config=memnn; arg=ext=am+ng+nl,
    extra=(--config.model.ordered_facts=True) ;;
  memnn_amngnlo_joint) config=memnn; arg=tasks=0,ext=am+ng+nl
    extra=(--config.model.ordered_facts=True) ;;
  memnn_amngnlro_single) config=memnn; arg=ext=am+ng+nl,
    extra=(--config.model.extend_lookups=False --config.model.ordered_facts=True) ;;
  *) echo "unknown queue $queue" >&2; exit 2 ;;
esac
if [[ $queue == *_joint ]]; then
  for s in ${3:-0 1 2 3 4 5 6 7 8 9}; do
    run "$queue" "$config" "$arg" "$s" "${extra[@]}"
  done
else
  for s in ${3:-0}; do
    for t in $(seq 1 20); do
      run "${queue%_single}_qa$t" "$config" "${arg}tasks=$t" "$s" "${extra[@]}"
    done
  done
fi
