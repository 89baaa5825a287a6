#!/usr/bin/env bash
# Build the wheelhouse the images install from with `pip install --no-index`: Basis itself (`basis`,
# and the bot's own distribution `basis-bot`) and every dependency, as wheels, in deploy/wheelhouse/
# (gitignored). Containers cannot reach a package index, so everything they install comes from here.
#
#   deploy/wheelhouse.sh [PYTHON]     # default: python3.11, else python3
#
# The wheels must match the image's Python: Debian bookworm's python3 is 3.11 (cp311, glibc 2.36), so
# build with a 3.11 interpreter. Wheels already in the folder are reused; Basis's own wheels are rebuilt
# every time, so the images always carry the current source.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${1:-${WHEEL_PYTHON:-$(command -v python3.11 || command -v python3)}}"
OUT=deploy/wheelhouse
want="${PYTHON_TAG:-cp311}"
have=$("$PYTHON" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
if [ "$have" != "$want" ]; then
  echo "$PYTHON is $have but the image's Python is $want: set WHEEL_PYTHON to a ${want} interpreter" >&2
  exit 2
fi

mkdir -p "$OUT"
rm -f "$OUT"/basis-*.whl "$OUT"/basis_bot-*.whl
# Build from clean copies of the sources: setuptools' build/ folder in the tree could carry stale
# modules into a wheel, and the working tree stays untouched. Two distributions: `basis` (everything:
# the control-plane image, with its extras) and `basis-bot` (the bot's packages and the core
# dependencies only: the bot image; deploy/bot_package.py writes its pyproject from ours).
SRC=$(mktemp -d /tmp/basis-src.XXXXXX)
BOT_SRC=$(mktemp -d /tmp/basis-bot-src.XXXXXX)
trap 'rm -rf "$SRC" "$BOT_SRC"' EXIT
tar -c --exclude=__pycache__ --exclude='*.pyc' pyproject.toml README.md shared devnet orchestrator tenant_bot migrations \
  | tar -x -C "$SRC"
tar -c --exclude=__pycache__ --exclude='*.pyc' shared tenant_bot migrations/__init__.py migrations/tenant \
  | tar -x -C "$BOT_SRC"
"$PYTHON" deploy/bot_package.py "$BOT_SRC"
export PIP_DISABLE_PIP_VERSION_CHECK=1
wheels() {
  # Offline first (every dependency already in the wheelhouse: seconds), else with the package index.
  # (The grep drops pip's notes about index folders this machine's pip.conf names but lacks.)
  if ! "$PYTHON" -m pip wheel --quiet --no-index --wheel-dir "$OUT" --find-links "$OUT" "$@" 2>/dev/null; then
    # setuptools and wheel too: they build Basis's own wheels, so the next run can stay offline.
    "$PYTHON" -m pip wheel --quiet --wheel-dir "$OUT" --find-links "$OUT" "$@" 'setuptools>=69' wheel \
      2> >(grep -v 'is neither a file nor a directory' >&2)
  fi
}
wheels "$SRC[control-plane,devnet]"
wheels "$BOT_SRC"
echo "wheelhouse: $(ls "$OUT"/*.whl | wc -l) wheels in $OUT"
