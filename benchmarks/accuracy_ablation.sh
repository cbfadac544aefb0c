#!/usr/bin/env bash
# Speaker-independent accuracy of the seeds' recipe and of each step of the bundled recipe,
# all with ser-train's 6-fold cross-validation grouped by actor (same folds, seed 0).
# Usage: bash benchmarks/accuracy_ablation.sh [RAVDESS_DIR]   (about 20 min on 2 cores)
# Logs: benchmarks/results/accuracy_<variant>_<classes>.txt
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${SER_RAVDESS_DIR:-../shared/data/ravdess-speech}}
train=${SER_TRAIN:-ser-train}
out=$(mktemp -d)
four=neutral,angry,sad,happy
run() {  # name, subset ("" for all 8), options...
  local name=$1 subset=$2; shift 2
  local tag=8; [ -n "$subset" ] && tag=4
  local log=benchmarks/results/accuracy_${name}_${tag}.txt
  echo "== $name ($tag classes): $train $*" | tee "$log"
  $train --data "$data" ${subset:+--subset "$subset"} --out "$out/$name$tag.skops" --quiet "$@" \
    | tee -a "$log"
}
# the seeds: mean MFCC40+chroma12+mel128, MLPClassifier(hidden 300, alpha 0.01), no normalisation
for s in "" "$four"; do
  run seeds "$s" --features seed --normalize none --augment 0 --ensemble 1 --hidden 300 --alpha 0.01
  run default-features "$s" --normalize none --augment 0 --ensemble 1
  run speaker-normalised "$s" --augment 0 --ensemble 1
done
rm -rf "$out"
