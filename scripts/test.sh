#!/usr/bin/env bash
# The test command of README.md: installs what the tests need besides cargo,
# then runs every test of the workspace and closes with the totals.
# .ci/run calls this same script after its format and lint checks.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (install Rust with rustup)" >&2
  exit 1
fi

# Debian packages the tests use, by the command each provides.
missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)  # cli/tests/packaging.rs
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "the tests need these Debian packages: ${missing[*]}; install them (as root) and run again" >&2
    exit 1
  fi
  echo "== installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== cargo test --workspace"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e +o pipefail
cargo test --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# cargo prints one result line per test binary, the last often a crate's
# empty doc-tests; close with the totals so the run reads as what it was.
passed=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s += $1} END {print s + 0}')
echo "tests: ${passed} passed, ${failed} failed"
exit "$status"
