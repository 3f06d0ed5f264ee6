#!/usr/bin/env bash
# Installs what make netproof boots: QEMU (software emulation), Debian's stock kernel with its
# modules (bridge VLAN filtering, 802.1Q, veth, 9p) and a static busybox for the initramfs.
# Installs only what is missing, with apt, as the machines' root user.
set -euo pipefail
packages=(qemu-system-x86 linux-image-amd64 busybox-static)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
