"""Runs one command in a network namespace of its own, as its pod would, with the API server relayed in.

Part of the demo tooling in hack/ (hack/operands.py uses it), never shipped and never imported by
src/. Why it exists: in a cluster every operand has its pod's network namespace, so two operands
may bind the same fixed port. As processes in the demo's one namespace they cannot: virt-operator
serves its webhooks on port 8444 of its `--listen` address (hard-coded, pkg/virt-operator/
application.go) and cdi-operator its health probes on `:8444` (hard-coded, cmd/cdi-operator), so
whichever binds second dies.

How: this process makes a new network namespace that holds only loopback, listens there on the
API server's address (127.0.0.1:PORT), starts the command inside it, goes back to the namespace
it came from and copies every connection to the API server at the same address there. Both ends
are loopback, so nothing can leave the machine, and the API server's certificate (issued for
127.0.0.1) still matches. The namespace has no other way out: a Service or pod IP is unreachable
from it, as from the demo's. It exits with the command's exit code, once the command has exited;
a SIGTERM (what `make demo-down` sends to the process group) is passed on to the command. Needs
root, as `make demo`'s named namespace already does.

Usage: python hack/podnet.py --relay 127.0.0.1:PORT -- COMMAND [ARG...]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading

CLONE_NEWNET = 0x40000000
CHUNK = 65536
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy one direction until its end closes, then pass the close on."""
    with contextlib.suppress(OSError):
        while data := source.recv(CHUNK):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _serve(inside: socket.socket, address: tuple[str, int]) -> None:
    """One connection from inside the namespace, carried to `address` outside it."""
    with inside:
        try:
            outside = socket.create_connection(address)
        except OSError:
            return  # the API server is down: the client sees a reset and retries, as it would
        with outside:
            back = threading.Thread(target=_pump, args=(outside, inside), daemon=True)
            back.start()
            _pump(inside, outside)
            back.join()


def _accept(listener: socket.socket, address: tuple[str, int]) -> None:
    while True:
        inside, _ = listener.accept()
        threading.Thread(target=_serve, args=(inside, address), daemon=True).start()


def run(address: tuple[str, int], command: list[str]) -> int:
    """Start `command` in a loopback-only namespace of its own; relay `address` into it until it exits."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    # Only this (still single) thread moves; whatever it starts from here on is born inside.
    _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    listener = socket.create_server(address, backlog=128)
    child = subprocess.Popen(command)
    # A SIGTERM (to the process group, or to this process alone) ends the command first; the relay
    # stays until it has exited, so it can still say goodbye to the API server (release its lease).
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    # Back home: the sockets the relay opens from now on are in the namespace the API server is in.
    _check(_libc.setns(home, CLONE_NEWNET), "setns(home)")
    os.close(home)
    # The program itself, past an `env NAME=value ...` prefix.
    program = next((a for a in command if "=" not in a and os.path.basename(a) != "env"), command[0])
    print(
        f"podnet: pid {child.pid} ({os.path.basename(program)}) runs in a network namespace of "
        f"its own (loopback only); {address[0]}:{address[1]} there is relayed to the API server",
        flush=True,
    )
    threading.Thread(target=_accept, args=(listener, address), daemon=True).start()
    code = child.wait()
    print(f"podnet: pid {child.pid} exited with code {code}", flush=True)
    return code if code >= 0 else 128 - code  # killed by signal N: 128 + N, as a shell reports it


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hack/podnet.py", description=__doc__.split("\n")[0])
    parser.add_argument("--relay", required=True, help="HOST:PORT of the API server, relayed in")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    host, port = str(args.relay).rsplit(":", 1)
    return run((host, int(port)), command)


if __name__ == "__main__":
    sys.exit(main())
