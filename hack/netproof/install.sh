#!/usr/bin/env bash
# Installs what make netproof boots: QEMU (software emulation), Debian's stock kernel with its
# modules (bridge VLAN filtering, 802.1Q, veth, 9p) and a static busybox for the initramfs.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../debian-packages.sh" qemu-system-x86 linux-image-amd64 busybox-static
