"""The hub's spawner: JupyterHub's LocalProcessSpawner, which also checks who listens on the server's port.

A single-user server listens on a TCP port of 127.0.0.1 that the hub picks, and the proxy sends the person's
traffic there. Any local user may listen on a free port: a student who binds the port the hub just picked for
the instructor, before the instructor's server does, gets the instructor's requests, with the cookie that
holds the instructor's access token to their server (JupyterHub takes any HTTP answer as the server being
up). OwnPortSpawner waits until something listens on the port and starts the server only if every listener
there belongs to the person's account; otherwise it stops the server, logs who took the port, and the spawn
fails. Once the person's server holds the port, nobody else can bind it.
"""

from __future__ import annotations

import asyncio
import pwd
import time

from jupyterhub.spawner import LocalProcessSpawner

LISTEN = "0A"  # the state column of /proc/net/tcp{,6}


def listening_uids(port: int, tables=("/proc/net/tcp", "/proc/net/tcp6")) -> set[int]:
    """The uids of the sockets that listen on `port`, on any address (IPv4 and IPv6)."""
    uids = set()
    for table in tables:
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 7 and fields[3] == LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                uids.add(int(fields[7]))
    return uids


class PortTaken(RuntimeError):
    """Another account listens on the port of a person's server."""


async def wait_for_own_listener(port: int, uid: int, alive, timeout: float, interval: float = 0.2) -> None:
    """Return once `port` is listened on by `uid` alone; PortTaken if another uid listens there first.

    alive(): False once the server's process has ended (the hub then reports the failed start itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        uids = listening_uids(port)
        if uids - {uid}:
            names = sorted(_name(u) for u in uids - {uid})
            raise PortTaken(f"port {port} of {_name(uid)}'s server is listened on by {', '.join(names)}")
        if uids or not alive():
            return
        await asyncio.sleep(interval)


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class OwnPortSpawner(LocalProcessSpawner):
    """LocalProcessSpawner whose server counts as started only when its port is its account's (see module)."""

    async def start(self):
        ip, port = await super().start()
        uid = pwd.getpwnam(self.user.name).pw_uid
        try:
            await wait_for_own_listener(port, uid, lambda: self.proc.poll() is None, self.start_timeout)
        except PortTaken as taken:
            self.log.error("Refusing to start %s's server: %s", self.user.name, taken)
            await self.stop(now=True)
            raise
        return ip, port

