#!/usr/bin/env bash
# Bounded fuzzing of the gateway's untrusted-input parsers (see README.md).
#
#   gateway/fuzz/run.sh                   # every target, 60 s each
#   FUZZ_SECONDS=300 gateway/fuzz/run.sh  # longer
#   gateway/fuzz/run.sh token_verify      # some targets only
#
# Works on the stable toolchain: RUSTC_BOOTSTRAP=1 unlocks the nightly-only
# flags cargo-fuzz passes (-Zsanitizer=address, sancov). Installs cargo-fuzz
# from crates.io when missing. Exits non-zero as soon as a target crashes
# (panic, failed assertion, sanitizer report, OOM or timeout); the input is
# then in gateway/fuzz/artifacts/<target>/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."   # gateway/: cargo fuzz finds ./fuzz
export RUSTC_BOOTSTRAP=1

seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(event_parse client_message token_verify)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

for target in "${targets[@]}"; do
    echo "== $target: ${seconds}s" >&2
    # The committed corpus is the seed; new finds go to a scratch directory so
    # a run leaves the tree clean (merge them in with `cargo fuzz cmin`).
    scratch="$here/target/corpus/$target"
    mkdir -p "$scratch" "$here/corpus/$target"
    if ! cargo fuzz run "$target" "$scratch" "$here/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
        echo "run.sh: $target CRASHED; reproducer in $here/artifacts/$target/" >&2
        exit 1
    fi
done
echo "run.sh: no crash in ${targets[*]} (${seconds}s each)" >&2
