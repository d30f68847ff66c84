# Sourced by tests/run.sh and bench/run.sh: installs the Python tools of $REQUIREMENTS (default
# tests/requirements.txt) into .venv and puts them on PATH. A virtualenv where the venv module
# exists; otherwise a plain folder of packages (Debian's python3 without python3-venv).
if [ ! -x .venv/bin/python ] && ! python3 -m venv .venv 2>/dev/null; then
    rm -rf .venv
fi
if [ -x .venv/bin/python ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "${REQUIREMENTS:-tests/requirements.txt}"
    export PATH="$PWD/.venv/bin:$PATH"
else
    PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --disable-pip-version-check \
        --target .venv/packages -r "${REQUIREMENTS:-tests/requirements.txt}"
    export PYTHONPATH="$PWD/.venv/packages${PYTHONPATH:+:$PYTHONPATH}"
    export PATH="$PWD/.venv/packages/bin:$PATH"
fi
