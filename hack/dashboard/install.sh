#!/usr/bin/env bash
# Installs the browser the dashboard's tests drive (tests/dashboard): Debian's headless-capable
# Chromium. Playwright is pointed at it and never downloads a browser of its own.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../debian-packages.sh" chromium
