"""hub/spawner.py: a person's server starts only when its port is listened on by that person's account.

The attack it stops: another local user binds the port the hub picked for the instructor's server first, and
receives the instructor's requests. Listeners of another user are made by a child process that becomes
`nobody` before it opens its socket (root only: the tests are skipped otherwise).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import socket
from contextlib import contextmanager

import pytest

from grading.course_dir import ROOT

spec = importlib.util.spec_from_file_location("hub_spawner", ROOT / "hub" / "spawner.py")
spawner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(spawner)

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="listening as another user needs root")


@contextmanager
def listener_of(uid: int, address: str = "127.0.0.1"):
    """A socket listening on a free port of `address`, opened by a child process running as `uid`: its port."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become uid, listen, report the port, wait to be stopped
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            s = socket.socket()
            s.bind((address, 0))
            s.listen()
            os.write(write, str(s.getsockname()[1]).encode())
            os.close(write)
            signal.pause()
        finally:
            os._exit(0)
    os.close(write)
    port = int(os.read(read, 16))
    os.close(read)
    try:
        yield port
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def own_listener(port, uid, alive=lambda: True, timeout=5.0):
    return asyncio.run(spawner.wait_for_own_listener(port, uid, alive, timeout, interval=0.05))


def test_listening_uids_sees_who_listens_and_only_listeners():
    with socket.socket() as bound, socket.socket() as listening:
        bound.bind(("127.0.0.1", 0))  # bound, not listening: nobody can connect to it
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        assert spawner.listening_uids(listening.getsockname()[1]) == {os.getuid()}
        assert spawner.listening_uids(bound.getsockname()[1]) == set()


def test_the_accounts_own_listener_is_accepted():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert own_listener(s.getsockname()[1], os.getuid()) is None


def test_a_server_that_ended_before_listening_is_left_to_the_hub():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free again once closed
    assert own_listener(port, os.getuid(), alive=lambda: False) is None


@as_root
@pytest.mark.parametrize("address", ["127.0.0.1", "0.0.0.0"])
def test_a_port_taken_by_another_account_is_refused(address):
    """The hijacker listens first, on the server's address or on every address of the machine."""
    with listener_of(NOBODY, address) as port:
        with pytest.raises(spawner.PortTaken, match=f"port {port} of root's server is listened on by nobody"):
            own_listener(port, 0)
