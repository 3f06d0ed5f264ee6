#!/usr/bin/env bash
# Installs those of the named Debian packages that are missing, with apt, as the machines' root
# user; nothing when all are installed. Used by make's set-up steps (hack/netproof/install.sh,
# hack/dashboard/install.sh), one at a time: two apt-gets at once fail on dpkg's lock.
# Usage: hack/debian-packages.sh PACKAGE...
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
