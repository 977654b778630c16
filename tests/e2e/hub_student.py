"""What a person on the hub can do with their own credentials: the hub's REST API, and code run in a kernel of
their own server (through the server's REST and websocket API, as JupyterLab does). tests/e2e/test_hub.py
replays a student's attacks with these.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid


def request(base: str, method: str, path: str, token: str | None = None, body=None, timeout: float = 60):
    """(HTTP status, decoded JSON body or text) of one request; errors are answers, not exceptions."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"token {token}"
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None,
                                 method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode(errors="replace")
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def status_without_redirect(base: str, path: str, token: str) -> int:
    """The status of GET path with a token, a redirect (to a login page) counting as its 30x."""
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(base + path, headers={"Authorization": f"token {token}"})
    try:
        with opener.open(req, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


def token(base: str, account: str, password: str) -> str:
    """A hub API token of `account`, asked for with its password (POST /hub/api/users/<account>/tokens)."""
    status, body = request(base, "POST", f"/hub/api/users/{account}/tokens",
                           body={"auth": {"username": account, "password": password}, "note": "test"})
    assert status == 201, f"{account} could not get their own token: {status} {body}"
    return body["token"]


def ensure_server(base: str, account: str, tok: str, timeout: float = 300) -> None:
    """Start the account's server unless it runs, and wait until it answers."""
    status, body = request(base, "GET", f"/hub/api/users/{account}", tok)
    assert status == 200, (status, body)
    if not body.get("servers", {}).get("", {}).get("ready"):
        request(base, "POST", f"/hub/api/users/{account}/server", tok)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if request(base, "GET", f"/user/{account}/api/status", tok)[0] == 200:
            return
        time.sleep(1)
    raise TimeoutError(f"{account}'s server did not answer within {timeout:.0f} s")


def run_in_kernel(base: str, account: str, tok: str, code: str, timeout: float = 300) -> tuple[str, str]:
    """Run `code` in a fresh python3 kernel of the account's own server: (stdout, stderr and tracebacks)."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    status, kernel = request(base, "POST", f"/user/{account}/api/kernels", tok, {"name": "python3"})
    assert status == 201, (status, kernel)

    async def execute():
        url = base.replace("http://", "ws://", 1) + f"/user/{account}/api/kernels/{kernel['id']}/channels"
        ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {tok}"}))
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": account, "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        out, err = [], []
        try:
            while True:
                raw = await asyncio.wait_for(ws.read_message(), timeout)
                if raw is None:
                    raise RuntimeError(f"{account}'s kernel closed its websocket")
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "stream":
                    (out if msg["content"]["name"] == "stdout" else err).append(msg["content"]["text"])
                elif msg["msg_type"] == "error":
                    err.append("\n".join(msg["content"]["traceback"]))
                elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    return "".join(out), "".join(err)
        finally:
            ws.close()

    try:
        return asyncio.run(execute())
    finally:
        request(base, "DELETE", f"/user/{account}/api/kernels/{kernel['id']}", tok)
