#!/usr/bin/env bash
# Installs the browser the dashboard's tests drive (tests/dashboard): Debian's headless-capable
# Chromium. Playwright is pointed at it and never downloads a browser of its own.
# Installs only what is missing, with apt, as the machines' root user.
set -euo pipefail
packages=(chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
