#!/usr/bin/env bash
# The output is a function of the input (PRODUCT.md §6): one generated stream (4 days, 3
# tenants; tests/bench/gen_stream.awk) fed through one partition in time order (the
# reference), over four topics x 4 partitions read with large and with small fetches, with
# three kill -9 and restarts, replayed by a new group into an empty Redis, and through two
# instances of one group with a rebalance mid-stream (one partition a topic, so that each
# instance reads some topics only; the build before 7f8d549 fails it): every derived event (id and data) and
# the last value of every aggregate key must be the reference's, each deadline fired once,
# no aggregate key shared by tenants. The comparison is tests/bench/exactness_lib.sh, the
# same as tests/bench/exactness.sh runs on a larger stream.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$LW_TEST_ROOT/integration/lib.sh"
EX_KILLS=3
# shellcheck source=SCRIPTDIR/../bench/exactness_lib.sh
source "$LW_TEST_ROOT/bench/exactness_lib.sh"
lw_setup
ex_init
ex_generate 4000 3 4
ex_check reference partitions small-fetch kill9 replay two-instances
lw_pass
