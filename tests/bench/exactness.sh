#!/usr/bin/env bash
# The exactness check (PRODUCT.md §6: the output is a function of the input): one generated
# stream of N events (tests/bench/gen_stream.awk: 3 tenants, 9 days) fed into fresh stacks
# in several ways — one partition in time order (the reference), four topics x 4 partitions
# read with large and with small fetches, kill -9 and restarts, a replay by a new group, two
# instances in one group — and every derived event (id and data) and the last value of every
# aggregate key compared with the reference. Prints a table per derived type and a verdict;
# exits 0 only when every variant derived exactly what the reference did.
#   tests/bench/exactness.sh [N=20000]
# Environment: VARIANTS="partitions kill9 ..." (default all; the reference always runs),
# TENANTS (3), DAYS (9), KEEP=1 keeps the temp dir (the records, the examples of what
# differs in diff-<variant>.txt, the logs), EX_KILLS (6), EX_SEED (7),
# LEAKWATCH (default build/leakwatch), EX_REFERENCE_LEAKWATCH (the binary of the reference
# run, default LEAKWATCH: another build's binary compares the two builds' outputs).
set -euo pipefail
N=${1:-20000}
root=$(cd "$(dirname "$0")/../.." && pwd)
export LEAKWATCH=${LEAKWATCH:-$root/build/leakwatch}
export LW_TEST_ROOT=$root/tests
export LW_KEEP=${KEEP:-${LW_KEEP:-0}}
export LW_RUN_TIMEOUT=${LW_RUN_TIMEOUT:-600}
# shellcheck source=SCRIPTDIR/../integration/lib.sh
source "$root/tests/integration/lib.sh"
# shellcheck source=SCRIPTDIR/exactness_lib.sh
source "$root/tests/bench/exactness_lib.sh"

# The variants asked for, in the order they must run (replay follows kill9), the reference first.
chosen=(reference)
for v in "${EX_VARIANTS_ALL[@]:1}"; do
    if [[ "${VARIANTS:-all}" == all || " ${VARIANTS:-} " == *" $v "* ]]; then
        chosen+=("$v")
    fi
done
for v in ${VARIANTS:-}; do
    [[ "$v" == all || " ${EX_VARIANTS_ALL[*]} " == *" $v "* ]] || {
        echo "exactness.sh: no variant '$v' (variants: ${EX_VARIANTS_ALL[*]})" >&2
        exit 2
    }
done

lw_setup
ex_init
ex_generate "$N" "${TENANTS:-3}" "${DAYS:-9}"
for v in "${chosen[@]}"; do
    ex_run "$v"
done
ex_compare "${chosen[@]}"
ex_report "${chosen[@]}"
[[ "$LW_KEEP" == 1 ]] && echo "details: $EX_DIR (diff-<variant>.txt: examples of what differs)"
if ! ex_verdict "${chosen[@]}"; then
    # a difference is this script's answer, not a failure of it: no log tails after the table
    mkdir -p "$LW_TMP/logs"
    mv "$LW_TMP"/*.log "$LW_TMP/logs/" 2>/dev/null || true
    exit 1
fi
