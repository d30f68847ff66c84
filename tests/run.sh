#!/usr/bin/env bash
# Runs every test of genrelay: lint of the SAM template, then the whole cargo workspace (unit,
# router, contract, Lambda sample event and black-box tests). Needs a Rust toolchain and
# Python 3 with pip; the Python tools are installed into .venv on first run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt

echo "==> cfn-lint infra/template.yaml"
.venv/bin/cfn-lint infra/template.yaml

echo "==> cargo test --workspace"
cargo test --workspace --locked
