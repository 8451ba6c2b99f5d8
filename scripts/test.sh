#!/usr/bin/env bash
# Installs syft-rs with its test extras into the active Python and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
pip install --quiet '.[test]'
cargo test --workspace --release --exclude syft-rs-python
set +e
python -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$rc"
