#!/usr/bin/env bash
# Entry point of the benchmarks (`make bench`, `make bench-quick`): runs bench/harness.py with
# Debian's python3 (standard library only). See `bench/run.sh --help`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=/usr/bin/python3
if [ ! -x "$py" ]; then
    py=$(command -v python3 || true)
    [ -n "$py" ] || { echo "bench/run.sh: python3 not found (scripts/setup-deps.sh bench installs it)" >&2; exit 1; }
fi
exec "$py" "$here/harness.py" "$@"
