#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for a bounded time each.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]     default: 30 s, every target
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). The toolchain is stable; libFuzzer's
# instrumentation needs nightly -Z flags, which RUSTC_BOOTSTRAP=1 unlocks on a stable rustc.
# Corpora grow in fuzz/corpus/<target> (git-ignored), seeded from fuzz/seeds/<target>; crashes
# land in fuzz/artifacts/<target>; each run's log is fuzz/logs/<target>.log. Exits non-zero if
# any target found a crash.
set -euo pipefail

seconds="${1:-30}"
shift || true
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

mkdir -p logs
cargo fuzz build
failed=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "seeds/$target"
    echo "== $target: ${seconds}s"
    if cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 >"logs/$target.log" 2>&1; then
        result="ok"
    else
        result="CRASH (see fuzz/logs/$target.log and fuzz/artifacts/$target)"
        failed=1
    fi
    execs=$(grep -E '^stat::number_of_executed_units' "logs/$target.log" | awk '{print $2}' || true)
    cov=$(grep -E '^#[0-9]+' "logs/$target.log" | tail -1 | grep -oE 'cov: [0-9]+' || true)
    echo "   executions: ${execs:-?}  ${cov}  corpus: $(ls "corpus/$target" | wc -l)  result: $result"
done
exit "$failed"
