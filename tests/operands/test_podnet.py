"""hack/podnet.py, how `make demo` runs virt-operator beside cdi-operator (both bind port 8444).

The command runs in a loopback-only network namespace of its own: it reaches the relayed address
(the API server's) as if it were local, it may bind a port that is taken where it came from, and
it reaches nothing else of that namespace. No control plane is needed: a small server stands in
for the API server.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading

import pytest

from hack.operands import PODNET
from hack.podnet import main

pytestmark = pytest.mark.skipif(
    sorted(name for _, name in socket.if_nameindex()) != ["lo"],
    reason="run under hack/netns-run (a namespace with only loopback)",
)

# Runs inside: argv[1] is the relayed port, argv[2] a port taken (listening) outside.
CHILD = """
import socket, sys
relayed, taken = int(sys.argv[1]), int(sys.argv[2])
print("interfaces", sorted(name for _, name in socket.if_nameindex()))
with socket.create_connection(("127.0.0.1", relayed), timeout=10) as conn:
    conn.sendall(b"ping")
    print("reply", conn.recv(100).decode())
with socket.create_server(("127.0.0.1", taken)):
    print("bound the taken port")
try:
    socket.create_connection(("127.0.0.1", taken), timeout=5)
    print("reached the taken port outside")
except ConnectionRefusedError:
    print("the taken port outside is out of reach")
sys.exit(7)
"""


def _answer_once(server: socket.socket) -> None:
    conn, _ = server.accept()
    with conn:
        conn.sendall(b"pong:" + conn.recv(100))


def test_the_command_reaches_only_the_relayed_address_and_may_bind_a_port_taken_outside() -> None:
    with socket.create_server(("127.0.0.1", 0)) as api, socket.create_server(("0.0.0.0", 0)) as taken:
        relayed, taken_port = api.getsockname()[1], taken.getsockname()[1]
        threading.Thread(target=_answer_once, args=(api,), daemon=True).start()
        inside = [sys.executable, "-c", CHILD, str(relayed), str(taken_port)]
        done = subprocess.run(
            [sys.executable, str(PODNET), "--relay", f"127.0.0.1:{relayed}", "--", *inside],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 7, done.stdout + done.stderr  # the command's own exit code
    assert "interfaces ['lo']" in done.stdout
    assert "reply pong:ping" in done.stdout
    assert "bound the taken port" in done.stdout
    assert "the taken port outside is out of reach" in done.stdout


def test_sigterm_ends_the_command_before_the_relay() -> None:
    with socket.create_server(("127.0.0.1", 0)) as api:
        relay = subprocess.Popen(
            [
                sys.executable,
                str(PODNET),
                "--relay",
                f"127.0.0.1:{api.getsockname()[1]}",
                "--",
                "sleep",
                "60",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert relay.stdout is not None
        assert "runs in a network namespace of its own" in relay.stdout.readline()  # the command started
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=30) == 128 + signal.SIGTERM  # sleep's death, passed on
        assert "exited with code -15" in relay.stdout.read()


def test_a_command_is_required() -> None:
    with pytest.raises(SystemExit):
        main(["--relay", "127.0.0.1:1", "--"])
