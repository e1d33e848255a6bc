#!/usr/bin/env bash
# The image's install recipe, shared by the Dockerfile and tests/deploy (which runs it into a temp dir).
#
#   install.sh deps SRC VENV   create VENV and install the [service] dependencies named in SRC/pyproject.toml
#   install.sh app  SRC VENV   install the akv-sidecar distribution built from SRC into VENV, no dependencies
#
# Two steps so that the dependency layer is rebuilt only when pyproject.toml changes, not on every code edit.
# Environment: UV (the uv binary, default "uv"), PYTHON (the interpreter for the venv, default "python3").
set -euo pipefail

usage() {
    echo "usage: $0 deps|app SRC VENV" >&2
    exit 2
}

[[ $# -eq 3 ]] || usage
step=$1
src=$2
venv=$3
uv=${UV:-uv}

# Bytecode is compiled at install time: a read-only root filesystem cannot take __pycache__ later.
install_into_venv() {
    "$uv" pip install --quiet --python "$venv/bin/python" --compile-bytecode "$@"
}

case "$step" in
    deps)
        "$uv" venv --quiet --python "${PYTHON:-python3}" "$venv"
        install_into_venv --requirements "$src/pyproject.toml" --extra service
        ;;
    app)
        install_into_venv --no-deps "$src"
        ;;
    *)
        usage
        ;;
esac
