#!/usr/bin/env bash
# Runs genrelay's benchmark: builds the function binaries and the harness with the release
# profile, then measures them on this machine against moto (installed into .venv like the
# tests' tools) and writes bench/REPORT.md and bench/report.json. Extra arguments go to the
# harness (e.g. `--runs 5`).
set -euo pipefail
cd "$(dirname "$0")/.."
REQUIREMENTS=bench/requirements.txt . tests/python-env.sh

# The dev-server load comes from wrk (Debian's package).
if ! command -v wrk >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq && $sudo apt-get install -y -qq wrk >/dev/null
fi

# The harness, the dev server and every function (the package of functions/<name> is genrelay-<name>).
packages=(-p genrelay-bench)
for function in functions/*/Cargo.toml; do
    function=${function#functions/}
    packages+=(-p "genrelay-${function%/Cargo.toml}")
done
cargo build --release --locked "${packages[@]}"
target/release/genrelay-bench "$@"
