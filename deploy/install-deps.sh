#!/usr/bin/env bash
# Installs leakwatch's build and test dependencies from Debian's archive.
# Idempotent: packages already present are left as they are; apt-get update runs
# only when something is missing.
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config
    librdkafka-dev libjansson-dev libhiredis-dev libcmocka-dev
    g++ libphonenumber-dev libmicrohttpd-dev
    redis-server kcat jq curl chromium
    libfyaml-utils
    python3-jsonschema # full JSON Schema validation in test_schemas, test_funnel (4.10 in Debian 12)
    clang libclang-rt-14-dev # tests/fuzz/ (libFuzzer)
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
