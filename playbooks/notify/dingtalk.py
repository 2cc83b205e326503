"""DingTalk (钉钉) custom robot: `POST …/robot/send?access_token=…` with `{"msgtype": "markdown", "markdown":
{"title": …, "text": …}, "at": {"atUserIds": […]}}` (a mentioned user also appears as `@userid` in the text).

Signing (加签), when the robot has a secret (`SEC…`): `timestamp` = now in milliseconds, `sign` =
Base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), both added as query parameters (URL-encoded);
DingTalk refuses a timestamp more than an hour off. Answer: HTTP 200 with `{"errcode": 0, "errmsg": "ok"}`; e.g.
`310000` (sign not match, keywords missing) is a failure.

Format: https://open.dingtalk.com/document/robots/custom-robot-access and
https://open.dingtalk.com/document/development/robot-message-type; signing as documented in 自定义机器人安全设置
(quoted at https://www.mihaoyun.com/wordpress/?p=391 and in the DingTalk snippets at
https://tmasjc.rbind.io/2019-11-10-trigger-dingtalk-webhook).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from playbooks.notify.message import NotifyMessage, markdown
from playbooks.notify.wecom import errcode_error


def payload(message: NotifyMessage, recipients: list[str] | None) -> dict[str, object]:
    users = recipients or []
    mentions = " ".join(f"@{user}" for user in users)
    text = markdown(message) + (f"\n\n{mentions}" if mentions else "")
    return {"msgtype": "markdown", "markdown": {"title": message.title, "text": text},
            "at": {"atUserIds": users, "isAtAll": False}}  # fmt: skip


def sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_params(secret: str, now_s: float) -> dict[str, str]:
    timestamp = int(now_s * 1000)
    return {"timestamp": str(timestamp), "sign": sign(secret, timestamp)}


def error(answer: object) -> str | None:
    return errcode_error(answer)
