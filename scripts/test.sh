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
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)  # tests/python/test_certificate.py
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

# The independent Python verifier of service certificates
# (docs/certificates.md), against the yizhan binary cargo test just built.
# It needs the `cryptography` package: from a venv under the target dir when
# the system Python lacks it. Its counts join the totals below as one more
# result line.
certificate_verifier() {
  local py=python3 venv="${CARGO_TARGET_DIR:-target}/python-venv"
  if ! python3 -c 'import cryptography' 2>/dev/null; then
    if [[ -x $venv/bin/python ]] || python3 -m venv "$venv"; then
      "$venv/bin/python" -c 'import cryptography' 2>/dev/null ||
        "$venv/bin/python" -m pip install -q cryptography || return 1
      py=$venv/bin/python
    else
      python3 -m pip install -q --break-system-packages cryptography || return 1
    fi
  fi
  YIZHAN_BIN="${CARGO_TARGET_DIR:-target}/debug/yizhan" \
    "$py" -m unittest discover -s tests/python -p 'test_certificate.py' 2>&1
}
echo "== python tests/python/test_certificate.py"
py_log=$(mktemp)
certificate_verifier | tee "$py_log"
py_status=${PIPESTATUS[0]}
# unittest closes with "Ran N tests" and "OK" or "FAILED (failures=F, errors=E)".
py_ran=$(grep -Eo '^Ran [0-9]+ test' "$py_log" | awk '{s += $2} END {print s + 0}')
py_failed=$(grep -Eo '(failures|errors)=[0-9]+' "$py_log" | awk -F= '{s += $2} END {print s + 0}')
# No test run (a moved file) is a failure, not a pass.
((py_ran > 0)) || py_status=1
if ((py_status != 0)); then
  status=1
  ((py_failed > 0)) || py_failed=1
fi
rm -f "$py_log"
py_word=ok
((py_status == 0)) || py_word=FAILED
py_passed=$((py_ran > py_failed ? py_ran - py_failed : 0))
echo "python test result: ${py_word}. ${py_passed} passed; ${py_failed} failed;" | tee -a "$log"

# cargo prints one result line per test binary, the last often a crate's
# empty doc-tests; close with the totals so the run reads as what it was.
passed=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s += $1} END {print s + 0}')
echo "tests: ${passed} passed, ${failed} failed"
exit "$status"
