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
# tests/python: a virtual environment for the stock Open311 client.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
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

# A stock Open311 client (tests/python) against the yizhan binary that
# cargo test built; its packages go in a virtual environment under the
# target directory, so the system's Python is left alone.
echo "== pytest tests/python"
target=${CARGO_TARGET_DIR:-target}
venv="$target/pyenv"
py_status=0
{
  cargo build -q -p yizhan &&
    { [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"; } &&
    "$venv/bin/pip" install -q --disable-pip-version-check georeport requests pytest &&
    CARGO_TARGET_DIR="$target" "$venv/bin/python" -m pytest -q tests/python
} || py_status=$?
if ((status == 0)); then
  status=$py_status
fi
exit "$status"
