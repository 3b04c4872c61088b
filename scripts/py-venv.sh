#!/usr/bin/env bash
# The Python virtual environment of the SSE client tests: real, unmodified clients from PyPI
# (requests-sse, sseclient, pywikibot's EventStreams) and jsonschema, pinned. Made once and
# cached outside the clone (~/.cache/realtimenotify/py-venv, RTN_CACHE to move it), made
# again when the pins below change. Prints the venv's python.
set -euo pipefail

PINS=(requests-sse==0.5.3 sseclient==0.0.27 pywikibot==11.9.0 jsonschema==4.26.0)
CACHE=${RTN_CACHE:-$HOME/.cache/realtimenotify}
VENV=$CACHE/py-venv
# Debian's python3 (python3-venv, scripts/install-deps.sh): the same on every machine.
PYTHON=${RTN_PYTHON:-/usr/bin/python3}

# `.pins` is written last: a venv without it (an install cut short) is made afresh.
if [[ -x $VENV/bin/python && "$(cat "$VENV/.pins" 2>/dev/null)" == "${PINS[*]}" ]]; then
	echo "$VENV/bin/python"
	exit 0
fi
mkdir -p "$CACHE"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV" >&2
"$VENV/bin/pip" install --quiet --disable-pip-version-check --use-pep517 "${PINS[@]}" >&2
echo "${PINS[*]}" >"$VENV/.pins"
echo "$VENV/bin/python"
