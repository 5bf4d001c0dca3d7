"""Real local receivers for the alert channels, started once per test session.

An aiohttp server (webhook, Slack and PagerDuty endpoints, plus endpoints that answer slowly or
with an error) and two aiosmtpd SMTP servers (plain, and STARTTLS with login), each running in
its own thread with its own event loop, bound to 127.0.0.1 on free ports.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import trustme
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.fixtures.common import free_port

SMTP_USER = "alerts"
SMTP_PASSWORD = "s3cret-pass"


@dataclass
class Receiver:
    """What the HTTP server received, by endpoint name (thread-safe)."""

    base_url: str = ""
    received: dict[str, list[Any]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, name: str, body: Any) -> None:
        with self.lock:
            self.attempts[name] = self.attempts.get(name, 0) + 1
            if body is not None:
                self.received.setdefault(name, []).append(body)

    def bodies(self, name: str) -> list[Any]:
        with self.lock:
            return list(self.received.get(name, []))

    def attempt_count(self, name: str) -> int:
        with self.lock:
            return self.attempts.get(name, 0)



def _app(receiver: Receiver) -> web.Application:
    async def hook(request: web.Request) -> web.Response:
        receiver.record(request.match_info["name"], await request.json())
        return web.Response(text="ok")

    async def pagerduty(request: web.Request) -> web.Response:
        body = await request.json()
        receiver.record("pagerduty", body)
        return web.json_response({"status": "success", "dedup_key": body.get("dedup_key")}, status=202)

    async def slow(request: web.Request) -> web.Response:
        receiver.record(request.match_info["name"], None)
        await asyncio.sleep(30)
        return web.Response(text="too late")

    async def status(request: web.Request) -> web.Response:
        receiver.record(request.match_info["name"], None)
        return web.Response(status=int(request.match_info["code"]), text="refused")

    app = web.Application()
    app.router.add_post("/hook/{name}", hook)
    app.router.add_post("/pagerduty/v2/enqueue", pagerduty)
    app.router.add_post("/slow/{name}", slow)
    app.router.add_post("/status/{code}/{name}", status)
    return app


@pytest.fixture(scope="session")
def http_receiver() -> Iterator[Receiver]:
    """A real aiohttp server on 127.0.0.1 recording what the HTTP channels post."""
    receiver = Receiver()
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(_app(receiver), shutdown_timeout=0.5)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="http-receiver", daemon=True)
    thread.start()
    if not started.wait(15):
        raise RuntimeError("the aiohttp receiver did not start")
    receiver.base_url = f"http://127.0.0.1:{port}"
    yield receiver
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


class MailHandler:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 Message accepted"

    def all(self) -> list[tuple[str, list[str], str]]:
        with self.lock:
            return list(self.messages)


@dataclass
class SmtpServer:
    port: int
    handler: MailHandler
    ca_file: str | None = None


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == SMTP_USER
        and auth_data.password.decode() == SMTP_PASSWORD
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="session")
def smtp_plain() -> Iterator[SmtpServer]:
    """A real aiosmtpd server without TLS or login."""
    handler = MailHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield SmtpServer(controller.port, handler)
    controller.stop()


@pytest.fixture(scope="session")
def smtp_starttls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    """A real aiosmtpd server that requires STARTTLS and a login (certificate from a test CA)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file = tmp_path_factory.mktemp("smtp-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    handler = MailHandler()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        authenticator=_authenticate,
    )
    controller.start()
    yield SmtpServer(controller.port, handler, str(ca_file))
    controller.stop()
