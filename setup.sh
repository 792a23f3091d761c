#!/usr/bin/env bash
# Set up everything ast needs on a fresh Debian/Ubuntu machine, idempotently:
#   1. Debian packages: FluidSynth (libfluidsynth3) and the soundfonts;
#   2. a virtual environment in .venv;
#   3. the toolkit (editable, with its test dependencies) and its Python packages.
# When everything is already there it checks and returns in well under a second.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

DEBIAN_PACKAGES=(fluidsynth libfluidsynth3 fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont)
PYTHON=${PYTHON:-python3}
STAMP=.venv/.ast-setup-stamp

say() { echo "setup: $*" >&2; }

# --- 1. Debian packages -------------------------------------------------------
if command -v dpkg-query >/dev/null 2>&1; then
    installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${DEBIAN_PACKAGES[@]}" 2>/dev/null \
                | awk '$NF == "installed" {print $1}' || true)
    missing=()
    for p in "${DEBIAN_PACKAGES[@]}"; do
        grep -qx "$p" <<<"$installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        if [ "$(id -u)" = 0 ]; then
            say "installing Debian packages: ${missing[*]}"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq
            apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        else
            say "missing Debian packages: ${missing[*]}"
            say "install them with:  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
            exit 1
        fi
    fi
else
    say "warning: no dpkg here; install FluidSynth (libfluidsynth) and General MIDI soundfonts yourself"
fi

# --- 2. virtual environment -----------------------------------------------------
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "ast needs Python >= 3.11; set PYTHON=/path/to/python3.11 (found: $("$PYTHON" --version 2>&1 || echo none))"
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    "$PYTHON" -m venv .venv
    rm -f "$STAMP"
fi

# --- 3. Python packages -----------------------------------------------------------
# Reinstall only when the dependency declarations (or this script) changed.
want=$(cat pyproject.toml setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ] || [ ! -x .venv/bin/ast ]; then
    say "installing Python packages into .venv (first time: a few minutes)"
    # pip's output goes to a log, shown only when something fails.
    # PyPI's torch brings its CUDA libraries (some GB); a dropped connection
    # part-way is resumed (--resume-retries) and the whole install is tried
    # again up to three times before setup gives up; pip keeps what it has
    # already installed, so a retry downloads only what is still missing.
    log=.venv/setup.log
    : >"$log"
    ok=0
    for attempt in 1 2 3; do
        if { .venv/bin/python -m pip install -q --upgrade pip \
             && .venv/bin/python -m pip install -q --retries 10 --resume-retries 20 -e '.[dev]'; } >>"$log" 2>&1; then
            ok=1
            break
        fi
        say "pip install attempt $attempt failed; see $log"
        sleep $((attempt * 10))
    done
    if [ "$ok" != 1 ]; then
        grep -v 'is ignored' "$log" | tail -40 >&2 || true
        say "pip install failed (full log: $log)"
        exit 1
    fi
    echo "$want" > "$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
fi
say "ready (.venv/bin/ast)"
