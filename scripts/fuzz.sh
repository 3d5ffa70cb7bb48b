#!/usr/bin/env bash
# Fuzzes every parser (fuzz/: archive, model, npy, npz, csv, root) with libFuzzer + AddressSanitizer,
# one target after the other, on a scratch copy of the committed seeds (fuzz/corpus/), so the
# committed corpus never grows. Fails on any crash (panic, sanitizer report, allocation over the
# limit), timeout, out-of-memory or leak. scripts/test.sh runs the smoke.
#
#   bash scripts/fuzz.sh [TARGET...]          FUZZ_SECONDS (default 30) per target
#   bash scripts/fuzz.sh --long [TARGET...]   FUZZ_RUNS (default 2000000) executions per target, on a
#                                             corpus that grows in fuzz-work/long/ from run to run
# Reproduce a failure: $bin/TARGET FILE (both printed on failure), or cargo +nightly fuzz run TARGET FILE.
set -euo pipefail
cd "$(dirname "$0")/.."

long=0
if [ "${1:-}" = "--long" ]; then long=1; shift; fi
targets=("$@")
# `root` is not in the default set: oxyroot sizes allocations from lengths in the file without
# checking them (e.g. an 8 GB `reserve` in Basket::unmarshal from a negative count), which aborts
# the process, found within seconds; its panics are caught (the ROOT reader, io/src) but an abort cannot be.
# Run it by name (`bash scripts/fuzz.sh root`); README "Fuzzing" documents the limit.
[ ${#targets[@]} -gt 0 ] || targets=(archive model npy npz csv)

# cargo-fuzz needs nightly (sanitizers, -Z flags).
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo +nightly fuzz --version > /dev/null 2>&1 || cargo +nightly install cargo-fuzz --locked

# Build outputs stay out of the clone when CI sets CARGO_TARGET_DIR.
if [ -n "${CARGO_TARGET_DIR:-}" ]; then export CARGO_TARGET_DIR="$CARGO_TARGET_DIR/fuzz"; fi
target_dir="${CARGO_TARGET_DIR:-$PWD/fuzz/target}"
work="$target_dir/fuzz-work"
# FUZZ_DEBUG_ASSERTIONS=1: overflow checks too (a wrap in release is silent, not a crash);
# FUZZ_FEATURES=zstd-c: chunks inflated by the C zstd library instead of ruzstd.
build=(-O)
if [ "${FUZZ_DEBUG_ASSERTIONS:-0}" = 1 ]; then build+=(-a); fi
if [ -n "${FUZZ_FEATURES:-}" ]; then build+=(--features "$FUZZ_FEATURES"); fi
(cd fuzz && cargo +nightly fuzz build "${build[@]}")
bin="$target_dir/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"

# The project's limits: 1 GiB per allocation (also enforced by fuzz/src/lib.rs's allocator),
# 2.5 GiB RSS, 10 s per input.
flags=(-rss_limit_mb=2560 -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1)
if [ "$long" = 1 ]; then flags+=(-runs="${FUZZ_RUNS:-2000000}"); else flags+=(-max_total_time="${FUZZ_SECONDS:-30}"); fi

# The readers take paths: the targets write each input to a file under this folder (tmpfs if any).
BALER_FUZZ_SCRATCH="$(mktemp -d -p /dev/shm baler-fuzz.XXXXXX 2> /dev/null || mktemp -d)"
export BALER_FUZZ_SCRATCH
trap 'rm -rf "$BALER_FUZZ_SCRATCH"' EXIT

failed=()
for t in "${targets[@]}"; do
  if [ "$long" = 1 ]; then corpus="$work/long/$t"; else corpus="$work/smoke/$t"; rm -rf "$corpus"; fi
  mkdir -p "$corpus" "$work/artifacts/$t"
  cp -n fuzz/corpus/"$t"/* "$corpus"/ 2> /dev/null || true
  log="$work/$t.log"
  status=0
  "$bin/$t" "$corpus" "${flags[@]}" -artifact_prefix="$work/artifacts/$t/" > "$log" 2>&1 || status=$?
  stat_of() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  found=$(grep -c 'Test unit written' "$log" || true)
  printf '%-8s %10s execs  %7s exec/s  %4s new units  peak %5s MB  crashes %s  exit %s\n' "$t" \
    "$(stat_of number_of_executed_units)" "$(stat_of average_exec_per_sec)" "$(stat_of new_units_added)" \
    "$(stat_of peak_rss_mb)" "$found" "$status"
  if [ "$status" != 0 ]; then
    failed+=("$t")
    grep -E 'panicked|ERROR|SUMMARY|baler-fuzz:|Test unit written' "$log" | head -20 | sed 's/^/    /'
    # Where: the first frames in our code or the parsers' crates.
    grep -m4 -E '^ +#[0-9]+ .* in .*(baler_|npyz|py_literal|oxyroot|zip::|csv::|ruzstd)' "$log" | cut -c1-200 || true
    echo "    log: $log  reproduce: $bin/$t FILE"
  fi
done
passed=$((${#targets[@]} - ${#failed[@]}))
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]}"
  echo "fuzz: $passed passed, ${#failed[@]} failed"
  exit 1
fi
echo "fuzzing: ok (${targets[*]})"
echo "fuzz: $passed passed, 0 failed"
