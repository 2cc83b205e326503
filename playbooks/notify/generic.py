"""The generic JSON webhook: the message itself as JSON, for receivers of one's own (SOAR, ticketing, a relay).

With a secret, the body is signed as `X-Vigil-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>`
(the scheme GitHub and most webhook senders use), so the receiver can check the sender and the content.
"""

from __future__ import annotations

import hashlib
import hmac

from playbooks.notify.message import NotifyMessage

SIGNATURE_HEADER = "X-Vigil-Signature"


def payload(message: NotifyMessage, recipients: list[str] | None) -> dict[str, object]:
    return {**message.model_dump(mode="json"), "title": message.title, "recipients": recipients or []}


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
