"""The processes of the local control plane: start, wait for, stop and find them again.

Every component runs in its own session (so a signal reaches its whole process group) and carries
its work directory in its arguments, so `leftover_processes(workdir)` can prove that `stop` or
`down` left nothing behind, even for processes started by an earlier command.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# The components talk to each other on 127.0.0.1 only; a proxy from the environment would break that.
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


class ControlPlaneError(RuntimeError):
    """The control plane could not start, or a component died while it was waited for."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], bool], *, timeout: float, interval: float = 0.2, what: str = "condition"
) -> None:
    """Poll until `predicate` holds; the only waiting primitive the launcher uses."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except ControlPlaneError:
            raise  # a component died: waiting longer cannot help
        except Exception as exc:  # a component that is still starting answers with errors
            last_error = exc
        time.sleep(interval)
    raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}: {last_error!r}")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    # A throwaway cluster on a small machine: memory is plenty, CPU is not. The Go garbage collector
    # took about a third of the API server's CPU at the default GOGC=100; 400 collects a quarter as often.
    env.setdefault("GOGC", "400")
    return env


@dataclass
class Process:
    name: str
    args: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=_clean_env(),
        )
        log.close()

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def check_alive(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise ControlPlaneError(
                f"{self.name} exited with {self.popen.returncode}; log tail:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def stop_pids(pids: Sequence[int], *, grace: float = 10.0) -> None:
    """SIGTERM each process group, then SIGKILL whatever is still there after `grace` seconds."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
    # SIGKILL is delivered asynchronously; wait until the kernel has really removed them.
    deadline = time.monotonic() + 5
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        # A zombie is gone for our purposes: it holds no ports and does no work.
        return stat.read_text().split(") ", 1)[1].split()[0] != "Z"
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


COMPONENT_BINARIES = frozenset(
    {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
)


def leftover_processes(marker: str | Path) -> list[tuple[int, str]]:
    """Live control-plane processes whose command line mentions `marker` (the work dir).

    Only our component binaries count, so the shell or `make` that invoked `down --dir X` (whose
    command line holds the same path) is never mistaken for a leftover and signalled.
    """
    marker = str(marker)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        program = Path(argv[0].decode(errors="replace")).name if argv and argv[0] else ""
        cmdline = b" ".join(argv).decode(errors="replace").strip()
        if program in COMPONENT_BINARIES and marker in cmdline and _alive(int(entry.name)):
            found.append((int(entry.name), cmdline))
    return found
