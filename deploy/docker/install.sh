#!/usr/bin/env bash
# The image's install recipe, shared by the Dockerfile and tests/deploy (which runs it into a temp dir).
#
#   install.sh deps SRC VENV   create VENV and install exactly SRC/locks/service.txt (the [service] extra's
#                              dependencies, every version and hash pinned by `make lock`)
#   install.sh app  SRC VENV   add the akv-sidecar distribution built from SRC (not editable, no dependencies)
#
# Two steps so that the dependency layer is rebuilt only when the lock changes, not on every code edit.
# --require-hashes: a file whose hash the lock does not list is refused.
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
pip_into_venv() {
    "$uv" pip "$1" --quiet --python "$venv/bin/python" --compile-bytecode "${@:2}"
}

case "$step" in
    deps)
        "$uv" venv --quiet --python "${PYTHON:-python3}" "$venv"
        pip_into_venv sync --require-hashes "$src/locks/service.txt"
        ;;
    app)
        pip_into_venv install --no-deps "$src"
        ;;
    *)
        usage
        ;;
esac
