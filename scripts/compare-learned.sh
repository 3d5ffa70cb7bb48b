#!/usr/bin/env bash
# Ratio of `baler-train compress F --rel R` (default effort: learned column models on tables, a
# learned last pass on fields) against `--no-model` (classic predictors only), per input and bound.
#   bash scripts/compare-learned.sh F... (CARGO_TARGET_DIR as for the build; B overrides the binary)
set -euo pipefail
B="${B:-${CARGO_TARGET_DIR:-$HOME/.cache/baler-target}/release/baler-train}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ratio() { "$B" compress "$@" --json | python3 -c 'import json, sys; print(round(json.load(sys.stdin)["ratio"], 2))'; }
echo "| input | bound | learned | classic | learned ÷ classic |"
echo "|---|---|---|---|---|"
for f in "$@"; do
  for r in 1e-2 1e-3 1e-4; do
    a=$(ratio "$f" -o "$out/a.baler" --rel "$r")
    b=$(ratio "$f" -o "$out/b.baler" --rel "$r" --no-model)
    echo "| $(basename "$f") | $r | $a | $b | $(python3 -c "print(f'{$a / $b:.2f}')") |"
  done
done
