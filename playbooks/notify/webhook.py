"""Webhooks over HTTP (`httpx`): generic JSON, WeCom, DingTalk and Feishu robots (one module per format).

Every request carries `X-Vigil-Delivery: <key>` (the idempotency key). A timeout, a refused connection, a non-2xx
status or a vendor error code in a 200 answer is a failed `Delivery`, never an exception. Webhook URLs hold the
robot's credential (WeCom `key`, DingTalk `access_token`, the Feishu hook id), so neither they nor the signing
secret nor configured header values ever appear in a `detail` or a log line.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from playbooks.notify import dingtalk, feishu, generic, wecom
from playbooks.notify.message import Delivery, NotifyMessage, redact

Format = Literal["json", "wecom", "dingtalk", "feishu"]
DELIVERY_HEADER = "X-Vigil-Delivery"
ANSWER_SNIPPET = 200  # characters of a failed answer kept in `detail`
TOKEN_LENGTH = 16  # URL parts at least this long are treated as credentials when redacting


class WebhookChannel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["webhook"]
    name: str = Field(min_length=1)
    url: SecretStr = Field(description="the robot's webhook address (it contains its credential)")
    format: Format = "json"
    secret: SecretStr | None = Field(None, description="signing secret (DingTalk 加签, Feishu 签名校验, JSON HMAC)")
    style: feishu.Style = Field("post", description="Feishu only: rich-text post or interactive card")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="extra headers, e.g. Authorization")
    ca_file: Path | None = Field(None, description="CA bundle for a receiver with a private certificate")
    timeout_s: float = Field(10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http(cls, value: SecretStr) -> SecretStr:
        if httpx.URL(value.get_secret_value()).scheme not in ("http", "https"):
            raise ValueError("the webhook url must start with http:// or https://")
        return value


class _UrlRedaction(logging.Filter):
    """httpx logs each request's full URL at INFO; a robot's URL is its credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(safe_url(a) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


_URL_REDACTION = _UrlRedaction()


def safe_url(url: httpx.URL) -> str:
    """The URL without its credential: no query, token-like path segments masked."""
    path = "/".join("***" if len(segment) >= TOKEN_LENGTH else segment for segment in url.path.split("/"))
    return f"{url.scheme}://{url.netloc.decode()}{path}" + ("?***" if url.query else "")


def send(channel: WebhookChannel, message: NotifyMessage, recipients: list[str] | None) -> Delivery:
    if _URL_REDACTION not in logging.getLogger("httpx").filters:
        logging.getLogger("httpx").addFilter(_URL_REDACTION)
    url, body, headers = request(channel, message, recipients, time.time())
    try:
        with httpx.Client(timeout=channel.timeout_s, verify=_verify(channel)) as client:
            answer = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return _failed(channel, f"{type(exc).__name__}: {exc or 'no detail'}")
    if not answer.is_success:
        return _failed(channel, f"HTTP {answer.status_code}: {answer.text[:ANSWER_SNIPPET]}")
    problem = _vendor_error(channel.format, answer)
    if problem:
        return _failed(channel, f"HTTP {answer.status_code} but {channel.format} refused it: {problem}")
    return Delivery(channel=channel.name, ok=True, detail=f"HTTP {answer.status_code} ({channel.format})")


def request(channel: WebhookChannel, message: NotifyMessage, recipients: list[str] | None,
            now_s: float) -> tuple[httpx.URL, bytes, dict[str, str]]:  # fmt: skip
    """The URL, exact body bytes and headers of the delivery (signatures need the exact bytes and time)."""
    url = httpx.URL(channel.url.get_secret_value())
    secret = channel.secret.get_secret_value() if channel.secret else None
    payload: dict[str, object]
    match channel.format:
        case "json":
            payload = generic.payload(message, recipients)
        case "wecom":
            payload = wecom.payload(message, recipients)
        case "dingtalk":
            payload = dingtalk.payload(message, recipients)
            if secret:
                url = url.copy_merge_params(dingtalk.sign_params(secret, now_s))
        case "feishu":
            payload = feishu.payload(message, recipients, channel.style)
            if secret:
                payload = {**feishu.sign_fields(secret, now_s), **payload}
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {k: v.get_secret_value() for k, v in channel.headers.items()}
    headers |= {"Content-Type": "application/json; charset=utf-8", DELIVERY_HEADER: message.key}
    if secret and channel.format == "json":
        headers[generic.SIGNATURE_HEADER] = generic.signature(secret, body)
    return url, body, headers


def _vendor_error(fmt: Format, answer: httpx.Response) -> str | None:
    if fmt == "json":
        return None
    try:
        parsed = answer.json()
    except ValueError:
        return f"answer is not JSON: {answer.text[:ANSWER_SNIPPET]!r}"
    return {"wecom": wecom.error, "dingtalk": dingtalk.error, "feishu": feishu.error}[fmt](parsed)


def _verify(channel: WebhookChannel) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=str(channel.ca_file)) if channel.ca_file else True


def _failed(channel: WebhookChannel, detail: str) -> Delivery:
    return Delivery(channel=channel.name, ok=False, detail=redact(detail, _secrets(channel)))


def _secrets(channel: WebhookChannel) -> list[str]:
    url = httpx.URL(channel.url.get_secret_value())
    parts = [str(url), *(value for _, value in url.params.multi_items())]
    parts += [segment for segment in url.path.split("/") if len(segment) >= TOKEN_LENGTH]
    parts += [v.get_secret_value() for v in channel.headers.values()]
    if channel.secret:
        parts.append(channel.secret.get_secret_value())
    return parts
