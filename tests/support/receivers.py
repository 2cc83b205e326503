"""Real local receivers for notification tests: an SMTP server (aiosmtpd) and an HTTP webhook receiver
(stdlib `http.server`), both on 127.0.0.1 free ports, collecting what they were sent.

Fixtures (exposed through `tests/conftest.py`):
- `smtp_receiver`: a plain SMTP server, no login; `.messages` are the parsed mails, `.channel()` an `SmtpChannel`
  pointing at it.
- `smtp_receiver_factory(tls="starttls"|"ssl"|"none", login=("user", "pw"), refuse={"x@y"})`: more of them,
  stopped at the end of the test; TLS receivers use a test CA (`.ca_file`, set on `.channel()`).
- `webhook_receiver`: an HTTP server; `.url_for(path)`, `.requests` (method, path, query, headers, body, json),
  `.respond(status, body, delay_s)` sets the answer, `.wait(n)` waits for n requests, `.channel(fmt, path)` a
  `WebhookChannel` pointing at it. `https_webhook_receiver`: the same over HTTPS (test CA in `.ca_file`).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from playbooks.notify import SmtpChannel, WebhookChannel
from stack.local import free_port

Tls = Literal["none", "starttls", "ssl"]


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None, "the mail has no text/plain part"
        return str(part.get_content())  # type: ignore[attr-defined]


class _MailHandler:
    def __init__(self, sink: list[ReceivedMail], refuse: set[str]) -> None:
        self.sink, self.refuse = sink, refuse

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:  # fmt: skip
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.sink.append(ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


class SmtpReceiver:
    def __init__(self, *, tls: Tls = "none", login: tuple[str, str] | None = None, refuse: set[str] | None = None,
                 ca: trustme.CA | None = None, ca_dir: Path | None = None) -> None:  # fmt: skip
        self.tls, self.login = tls, login
        self.messages: list[ReceivedMail] = []
        self.host, self.port = "127.0.0.1", free_port()
        self.ca_file: Path | None = None
        server_context = None
        if tls != "none":
            assert ca is not None and ca_dir is not None, "a TLS receiver needs the test CA"
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
            self.ca_file = ca_dir / "ca.pem"
            ca.cert_pem.write_to_path(str(self.ca_file))
        # aiosmtpd sees only STARTTLS as TLS; implicit TLS is TLS from the first byte anyway.
        options: dict[str, Any] = {"authenticator": self._authenticate, "auth_require_tls": tls == "starttls",
                                   "auth_required": login is not None}  # fmt: skip
        if tls == "ssl":
            options["ssl_context"] = server_context
        elif tls == "starttls":
            options |= {"tls_context": server_context, "require_starttls": True}
        self._controller = Controller(_MailHandler(self.messages, refuse or set()), hostname=self.host,
                                      port=self.port, **options)  # fmt: skip

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:  # fmt: skip
        ok = (isinstance(auth_data, LoginPassword) and self.login is not None
              and (auth_data.login.decode(), auth_data.password.decode()) == self.login)  # fmt: skip
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def channel(self, **overrides: Any) -> SmtpChannel:
        """An `SmtpChannel` for this receiver (TLS mode, CA and login filled in)."""
        fields: dict[str, Any] = {"type": "smtp", "name": "test-mail", "host": self.host, "port": self.port,
                                  "security": self.tls, "from": "Vigil 安全值班 <vigil@test.local>",
                                  "recipients": ["duty@test.local"], "ca_file": self.ca_file,
                                  "timeout_s": 5}  # fmt: skip
        if self.login:
            fields |= {"username": self.login[0], "password": self.login[1]}
        return SmtpChannel.model_validate(fields | overrides)


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    body: object = None  # JSON-encoded unless bytes; None: {"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"}
    delay_s: float = 0.0


class WebhookReceiver:
    def __init__(self, *, ca: trustme.CA | None = None, ca_dir: Path | None = None) -> None:
        """Plain HTTP; with the test CA, HTTPS with a certificate for 127.0.0.1 (`ca_file` for the sender)."""
        self.requests: list[ReceivedRequest] = []
        self.answer = Answer()
        self._arrived = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.scheme, self.ca_file = "http", None
        if ca is not None and ca_dir is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1").configure_cert(context)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme, self.ca_file = "https", ca_dir / "webhook-ca.pem"
            ca.cert_pem.write_to_path(str(self.ca_file))
        self._server.daemon_threads = True
        self._server.block_on_close = False  # type: ignore[attr-defined]
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="webhook-receiver",
                                        daemon=True)  # fmt: skip

    def url_for(self, path: str = "/hook") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def respond(self, status: int = 200, body: object = None, delay_s: float = 0.0) -> None:
        self.answer = Answer(status, body, delay_s)

    def wait(self, count: int = 1, timeout_s: float = 5.0) -> list[ReceivedRequest]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout_s):
                raise AssertionError(f"expected {count} request(s), got {len(self.requests)}")
            return list(self.requests)

    def channel(self, fmt: str = "json", path: str = "/hook", **overrides: Any) -> WebhookChannel:
        fields = {"type": "webhook", "name": f"test-{fmt}", "url": self.url_for(path), "format": fmt, "timeout_s": 5,
                  "ca_file": self.ca_file}  # fmt: skip
        return WebhookChannel.model_validate(fields | overrides)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _record(self, request: ReceivedRequest) -> Answer:
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()
        return self.answer

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                split = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = receiver._record(ReceivedRequest(
                    method="POST", path=split.path, query=dict(parse_qsl(split.query)),
                    headers={k.lower(): v for k, v in self.headers.items()}, body=body))  # fmt: skip
                time.sleep(answer.delay_s)
                default = {"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"}
                payload = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body or default).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up (its timeout): what the timeout tests want

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the requests are in `receiver.requests`; stderr stays for failures

        return Handler


@pytest.fixture(scope="session")
def test_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def smtp_receiver_factory(test_ca: trustme.CA, tmp_path: Path) -> Iterator[Callable[..., SmtpReceiver]]:
    started: list[SmtpReceiver] = []

    def make(**options: Any) -> SmtpReceiver:
        receiver = SmtpReceiver(ca=test_ca, ca_dir=tmp_path, **options).start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.stop()


@pytest.fixture
def smtp_receiver(smtp_receiver_factory: Callable[..., SmtpReceiver]) -> SmtpReceiver:
    return smtp_receiver_factory()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def https_webhook_receiver(test_ca: trustme.CA, tmp_path: Path) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(ca=test_ca, ca_dir=tmp_path).start()
    yield receiver
    receiver.stop()
