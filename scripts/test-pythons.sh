#!/usr/bin/env bash
# Runs the mimicdb package's tests on Python 3.12 and 3.13 (3.11 runs in the main suite),
# where boto 2.49.0 only imports through mimicdb's compat shim. Each version gets its own
# venv (.venv-3.12, .venv-3.13) with the project and its test extra, rebuilt whenever
# pyproject.toml changes. A missing interpreter is an error, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSIONS=(3.12 3.13)

# True when $1 runs and is Python $2 (a pyenv shim for a version not selected does not run).
is_python() {
    "$1" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$2'.split('.'))))" \
        >/dev/null 2>&1
}

# The interpreter for version $1: on PATH, else pyenv's, else ~/.pyenv's (newest patch).
find_python() {
    local version=$1 candidate roots=()
    if candidate=$(command -v "python$version") && is_python "$candidate" "$version"; then
        echo "$candidate"
        return 0
    fi
    if command -v pyenv >/dev/null 2>&1; then
        roots+=("$(pyenv root)")
    fi
    roots+=("$HOME/.pyenv")
    for root in "${roots[@]}"; do
        while read -r candidate; do
            if [ -n "$candidate" ] && is_python "$candidate" "$version"; then
                echo "$candidate"
                return 0
            fi
        done < <(ls -d "$root"/versions/"$version".*/bin/python 2>/dev/null | sort -rV)
    done
    return 1
}

for version in "${VERSIONS[@]}"; do
    if ! python=$(find_python "$version"); then
        echo "test-pythons: Python $version not found (PATH, pyenv, ~/.pyenv/versions):" \
            "install it, e.g. 'pyenv install $version'" >&2
        exit 1
    fi
    venv=".venv-$version"
    stamp="$venv/.installed"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        echo "test-pythons: building $venv with $python"
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install -q --upgrade pip
        "$venv/bin/python" -m pip install -q -e '.[compat-test]'
        touch "$stamp"
    fi
    echo "test-pythons: tests/mimicdb on $("$venv/bin/python" --version)"
    "$venv/bin/python" -m pytest tests/mimicdb -q -p no:cacheprovider --timeout 300
done
