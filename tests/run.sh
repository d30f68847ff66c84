#!/usr/bin/env bash
# Runs every test of genrelay: lint of the SAM template, then the whole cargo workspace (unit,
# router, adapter contract on the embedded store and on moto, Lambda event and black-box tests).
# Needs a Rust toolchain and Python 3 with pip; the Python tools are installed into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

. tests/python-env.sh

# The back office's browser test drives headless Chromium through chromedriver: Debian's
# `chromium` and `chromium-driver` (one version), and a font with Chinese glyphs for the pages'
# labels in its screenshots. Installed here when missing (as root, or through sudo).
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
    echo "==> installing chromium and chromium-driver (Debian packages) for the browser test"
    packages="chromium chromium-driver fonts-wqy-microhei"
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $packages
    else
        sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q $packages
    fi
fi

echo "==> cfn-lint infra/template.yaml"
cfn-lint infra/template.yaml

echo "==> cargo test --workspace"
cargo test --workspace --locked
