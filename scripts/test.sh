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
# tests/python: Python with a virtual environment for its packages.
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# tests/python/test_web.py: the rider's page and the staff console in
# Debian's Chromium (Playwright drives it; it never downloads a browser).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Chinese glyphs, so that its screenshots of the pages can be read.
{ command -v fc-list >/dev/null 2>&1 && fc-list :lang=zh | grep -q .; } || missing+=(fonts-wqy-zenhei)
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "the tests need these Debian packages: ${missing[*]}; install them (as root) and run again" >&2
    exit 1
  fi
  echo "== installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== cargo test --workspace --no-fail-fast"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e +o pipefail
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# tests/python, against the yizhan binary cargo test built: the independent
# verifier of service certificates (docs/certificates.md, with
# `cryptography` only), a stock Open311 client (`georeport`) and the web
# pages in Chromium (`playwright`; screenshots in $target/web-screenshots).
# `cargo test --no-run` only confirms that binary is current: `cargo build -p
# yizhan` would link a second one with other features, and disk is short in CI.
# pip runs as `python -m pip` so a venv whose directory was copied still
# works (its pip script names the old path). Their
# packages go in a virtual environment under the target directory, so the
# system's Python is left alone; pytest's counts join the totals as one more
# result line.
echo "== pytest tests/python"
target=${CARGO_TARGET_DIR:-target}
venv="$target/pyenv"
py_log=$(mktemp)
{
  cargo test --workspace --no-run -q &&
    { [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"; } &&
    "$venv/bin/python" -m pip install -q --disable-pip-version-check cryptography georeport requests pytest playwright==1.65.2 &&
    CARGO_TARGET_DIR="$target" YIZHAN_BIN="$target/debug/yizhan" \
      "$venv/bin/python" -m pytest -q tests/python
} 2>&1 | tee "$py_log"
py_status=${PIPESTATUS[0]}
py_passed=$(grep -Eo '[0-9]+ passed' "$py_log" | tail -1 | awk '{print $1 + 0}')
py_failed=$(grep -Eo '[0-9]+ (failed|error|errors)' "$py_log" | awk '{s += $1} END {print s + 0}')
# No test run (a moved file, an install that failed) is a failure, not a pass.
if ((py_status != 0 || ${py_passed:-0} == 0)); then
  status=1
  ((py_failed > 0)) || py_failed=1
fi
rm -f "$py_log"
py_word=ok
((py_status == 0)) || py_word=FAILED
echo "python test result: ${py_word}. ${py_passed:-0} passed; ${py_failed} failed;" | tee -a "$log"

# cargo prints one result line per test binary, the last often a crate's
# empty doc-tests; close with the totals so the run reads as what it was.
passed=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s += $1} END {print s + 0}')
echo "tests: ${passed} passed, ${failed} failed"
exit "$status"
