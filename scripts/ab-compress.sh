#!/usr/bin/env bash
# Two builds of baler-train on the same file, alternating (the machine's speed drifts between
# runs, so an old and a new build are only compared in one run): best wall time of N each, file to
# file, and whether the two archives are the same bytes.
#
#   bash scripts/ab-compress.sh OLD_BINARY NEW_BINARY F.npy [REL] [THREADS] [N]
#
# e.g. OLD = a worktree's build of the previous commit, NEW = this one's; THREADS sets
# RAYON_NUM_THREADS (1 by default), REL the relative bound (1e-3), N the runs of each (5).
set -euo pipefail
old=$1 new=$2 file=$3 rel=${4:-1e-3} threads=${5:-1} runs=${6:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -A best=([old]=999 [new]=999)
for _ in $(seq "$runs"); do
  for which in old new; do
    binary=$old
    [ "$which" = new ] && binary=$new
    start=$(date +%s.%N)
    RAYON_NUM_THREADS=$threads "$binary" compress "$file" -o "$tmp/$which.baler" --rel "$rel" --effort fast --quiet > /dev/null
    took=$(echo "$(date +%s.%N) - $start" | bc)
    best[$which]=$(echo "if ($took < ${best[$which]}) $took else ${best[$which]}" | bc)
  done
done
same=$(cmp -s "$tmp/old.baler" "$tmp/new.baler" && echo "the same bytes" || echo "DIFFERENT bytes")
printf '%s rel %s, %s thread(s), best of %s: old %.3f s, new %.3f s (%.2f x), %s\n' \
  "$(basename "$file")" "$rel" "$threads" "$runs" "${best[old]}" "${best[new]}" \
  "$(echo "${best[old]} / ${best[new]}" | bc -l)" "$same"
