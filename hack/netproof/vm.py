"""Boot Debian's kernel under QEMU's software emulation with a busybox initramfs, run the guest
driver (`guest.py`) with this checkout's Python over a read-only 9p view of the host's root, and
collect what it prints on the serial console.

The guest has no network device (`-nic none`); every link in it is one the driver makes. The host's
root is shared read-only so the guest runs exactly this checkout's code and interpreter; it writes
only to tmpfs. The initramfs (busybox, the kernel modules, /init) is cached, keyed on its inputs.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import platform
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vmo-operator" / "netproof"
MODULES = ("bridge", "8021q", "veth", "virtio_pci", "9pnet_virtio", "9p")
BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "mount", "insmod", "mkdir", "chroot", "poweroff", "cat", "echo", "sed")
MARK = "NETPROOF"

INIT = """#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do insmod /modules/$m.ko || echo "NETPROOF FAIL insmod $m"; done
mkdir -p /host
mount -t 9p -o trans=virtio,version=9p2000.L,ro hostroot /host || echo "NETPROOF FAIL 9p mount"
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mount -t tmpfs tmpfs /host/run
mount -t tmpfs tmpfs /host/var/lib
dir=$(sed -n 's/.*netproof.dir=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
chroot /host /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/run TMPDIR=/run \\
  PYTHONDONTWRITEBYTECODE=1 {python} {guest} "$dir" || echo "NETPROOF FAIL guest driver exited $?"
echo "NETPROOF END"
poweroff -f
"""


def kernel_release() -> str:
    found = sorted(Path("/lib/modules").glob("*-amd64"))
    if not found:
        raise FileNotFoundError("no Debian amd64 kernel: run hack/netproof/install.sh")
    return found[-1].name


def _module_file(release: str, name: str) -> Path:
    out = subprocess.run(["modinfo", "-k", release, "-F", "filename", name], capture_output=True, text=True)
    if out.returncode != 0:
        raise FileNotFoundError(f"kernel module {name} of {release}: {out.stderr.strip()}")
    return Path(out.stdout.strip())


def _depends(release: str, name: str) -> list[str]:
    out = subprocess.run(
        ["modinfo", "-k", release, "-F", "depends", name], capture_output=True, text=True, check=True
    )
    return [d for d in out.stdout.strip().split(",") if d]


def module_order(release: str) -> list[str]:
    """MODULES and what they depend on, dependencies first."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dep in _depends(release, name):
            visit(dep)
        order.append(name)

    for name in MODULES:
        visit(name)
    return order


def _cpio(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A newc cpio archive of (path, mode, content) entries; /dev/console is the one device node."""
    out = io.BytesIO()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        raw = name.encode() + b"\0"
        rdev = (5, 1) if name == "dev/console" else (0, 0)
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, *rdev, len(raw), 0]
        out.write(b"070701" + b"".join(f"{f:08x}".encode() for f in fields) + raw)
        out.write(b"\0" * (-(110 + len(raw)) % 4) + data + b"\0" * (-len(data) % 4))
    return out.getvalue()


def initramfs(python: Path, guest: Path) -> Path:
    """The cached initramfs for this kernel, busybox and /init."""
    release = kernel_release()
    order = module_order(release)
    files = {m: _module_file(release, m) for m in order}
    init = INIT.format(python=python, guest=guest)
    key = hashlib.sha256()
    for part in (release, init, *order):
        key.update(part.encode())
    key.update(BUSYBOX.read_bytes())
    key.update(Path(__file__).read_bytes())  # the way the image is built
    for m in order:
        key.update(files[m].read_bytes())
    path = CACHE / f"initramfs-{release}-{key.hexdigest()[:16]}.cpio.gz"
    if path.exists():
        return path
    directory = stat.S_IFDIR | 0o755
    entries: list[tuple[str, int, bytes]] = [
        (d, directory, b"") for d in ("bin", "proc", "sys", "dev", "modules", "host")
    ]
    entries.append(("dev/console", stat.S_IFCHR | 0o600, b""))
    entries.append(("bin/busybox", stat.S_IFREG | 0o755, BUSYBOX.read_bytes()))
    entries += [(f"bin/{a}", stat.S_IFLNK | 0o777, b"busybox") for a in APPLETS]
    entries += [(f"modules/{m}.ko", stat.S_IFREG | 0o644, files[m].read_bytes()) for m in order]
    entries.append(("modules/order", stat.S_IFREG | 0o644, ("\n".join(order) + "\n").encode()))
    entries.append(("init", stat.S_IFREG | 0o755, init.encode()))
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(_cpio(entries)))
    tmp.rename(path)
    return path


@dataclass(frozen=True)
class Outcome:
    passed: list[str]
    failed: list[str]
    finished: bool
    console: str

    def of(self, scenario: str) -> tuple[list[str], list[str]]:
        """The checks one scenario passed and failed, without its name."""
        mark = f"[{scenario}] "
        return (
            [c.removeprefix(mark) for c in self.passed if c.startswith(mark)],
            [c.removeprefix(mark) for c in self.failed if c.startswith(mark)],
        )


def boot(work: Path, *, timeout: float = 900) -> Outcome:
    """Boot the guest on the inputs in `work` (see guest.py) and read its verdicts off the console."""
    if platform.machine() != "x86_64":
        raise RuntimeError("make netproof boots an amd64 kernel: x86_64 hosts only")
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise FileNotFoundError("qemu-system-x86_64 missing: run hack/netproof/install.sh")
    image = initramfs(REPO / ".venv" / "bin" / "python", REPO / "hack" / "netproof" / "guest.py")
    release = kernel_release()
    argv = [
        qemu,
        "-accel",
        "tcg",
        "-cpu",
        "max",
        "-m",
        "1024",
        "-smp",
        "1",
        "-nographic",
        "-no-reboot",
        "-nic",
        "none",
        "-serial",
        "stdio",
        "-monitor",
        "none",
        "-kernel",
        f"/boot/vmlinuz-{release}",
        "-initrd",
        str(image),
        "-append",
        f"console=ttyS0 panic=-1 quiet loglevel=3 netproof.dir={work}",
        "-virtfs",
        "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    console = done.stdout + done.stderr
    lines = [line.strip() for line in console.splitlines()]
    # A verdict may follow the firmware's terminal escapes on the console's first line.
    passed = [m.group(1) for line in lines if (m := re.search(rf"{MARK} PASS (.*)", line))]
    failed = [m.group(1) for line in lines if (m := re.search(rf"{MARK} FAIL (.*)", line))]
    return Outcome(passed, failed, f"{MARK} END" in console, console)
