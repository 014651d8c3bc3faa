# Sourced by scripts/run and scripts/test: make .venv and install the pinned packages.
# Idempotent: reinstalls only when pyproject.toml changed since the last install.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
EXTRAS="${1:-}"

pick_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "error: Python 3.11 or newer is needed; install it (Debian/Raspberry Pi OS: apt install python3 python3-venv)" >&2
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    PY="$(pick_python)"
    echo "creating $VENV with $PY" >&2
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        echo "error: '$PY -m venv' failed; install the venv module (Debian/Raspberry Pi OS: apt install python3-venv)" >&2
        exit 1
    fi
fi

HASH="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
STAMP="$VENV/.installed-$HASH${EXTRAS:+-$EXTRAS}"
# The dev install includes everything the plain one has: it satisfies `scripts/run` too.
if [ -z "$EXTRAS" ] && [ -f "$VENV/.installed-$HASH-dev" ]; then
    STAMP="$VENV/.installed-$HASH-dev"
fi
if [ ! -f "$STAMP" ]; then
    echo "installing packages into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    spec="$ROOT"
    [ -n "$EXTRAS" ] && spec="$ROOT[$EXTRAS]"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec" >&2
    rm -f "$VENV"/.installed-*
    touch "$STAMP"
fi
