#!/usr/bin/env bash
# Runs the shared peer benchmark (../shared/bench/peers_match.py) on eventbus,
# moto and ministack, and keeps a copy of its output in benchmarks/results/.
#
# Usage: benchmarks/peers.sh [peers_match.py options...]
#   e.g. benchmarks/peers.sh --quick --n 1,10
# Environment:
#   VENV  virtual environment holding the peers (default: ../peers-venv next
#         to the repository); made with ../shared/bench/setup-peers.sh when
#         it does not exist yet.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
VENV=${VENV:-$(cd "$ROOT/.." && pwd -P)/peers-venv}
case $VENV in
  /*) ;;
  *) VENV=$PWD/$VENV ;;  # a relative VENV is taken from the caller's directory
esac

cd "$ROOT"
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating the peers' venv in $VENV" >&2
  bash ../shared/bench/setup-peers.sh "$VENV" "$ROOT"
fi

# The venv may hold another checkout of eventbus; say so rather than time it silently.
where=$("$VENV/bin/python" -c 'import eventbus, os; print(os.path.realpath(os.path.dirname(eventbus.__file__)))' \
  2>/dev/null || true)
if [ "$where" != "$ROOT/src/eventbus" ]; then
  echo "warning: $VENV imports eventbus from '${where:-nowhere}', not from this checkout;" \
    "fix with: $VENV/bin/pip install -e $ROOT" >&2
fi

mkdir -p benchmarks/results
out=benchmarks/results/peers-$(date +%Y%m%d-%H%M%S).txt
"$VENV/bin/python" ../shared/bench/peers_match.py --peers eventbus,moto,ministack "$@" 2>&1 | tee "$out"
echo "saved to $ROOT/$out" >&2
