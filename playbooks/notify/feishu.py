"""Feishu / Lark (飞书) custom bot: `POST …/open-apis/bot/v2/hook/<id>` with either a rich-text post
`{"msg_type": "post", "content": {"post": {"zh_cn": {"title": …, "content": [[{"tag": "text", …}, …], …]}}}}`
or a message card `{"msg_type": "interactive", "card": {"header": …, "elements": […]}}` (`lark_md` text, a
button to the link). Members are mentioned with `{"tag": "at", "user_id": …}` (post) or `<at id=…></at>` (card).

Signing (签名校验), when the bot has a secret: `timestamp` = now in seconds, `sign` =
Base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")), both added to the JSON body; Feishu refuses a
timestamp more than an hour off. Answer: HTTP 200 with `{"code": 0, "msg": "success"}` (older deployments:
`{"StatusCode": 0}`); e.g. `19021` (sign match fail) is a failure.

Format: 自定义机器人使用指南, https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot (read through
http://www.createh5.com/post/277.html, the Gitea fix https://github.com/go-gitea/gitea/pull/34802, and the
message-content examples at https://apifox.com/apidoc/docs-site/532425/doc-1944903).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

from playbooks.notify.message import NotifyMessage, markdown

Style = Literal["post", "interactive"]
CARD_COLOURS = {"critical": "purple", "high": "red", "medium": "orange", "low": "yellow"}


def payload(message: NotifyMessage, recipients: list[str] | None, style: Style) -> dict[str, object]:
    return _card(message, recipients or []) if style == "interactive" else _post(message, recipients or [])


def _post(message: NotifyMessage, users: list[str]) -> dict[str, object]:
    lines: list[list[dict[str, str]]] = [[{"tag": "text", "text": line}] for line in message.text.splitlines() or [""]]
    lines.append([{"tag": "text", "text": f"incident: {message.incident_id} · severity: {message.severity}"}])
    lines += [[{"tag": "text", "text": f"{name}: {value}"}] for name, value in message.fields.items()]
    if message.link:
        lines.append([{"tag": "a", "text": message.link, "href": message.link}])
    if users:
        lines.append([{"tag": "at", "user_id": user} for user in users])
    return {"msg_type": "post", "content": {"post": {"zh_cn": {"title": message.title, "content": lines}}}}


def _card(message: NotifyMessage, users: list[str]) -> dict[str, object]:
    text = markdown(message, heading=False)  # the card header carries the title
    if users:
        text += "\n\n" + " ".join(f"<at id={user}></at>" for user in users)
    elements: list[dict[str, object]] = [{"tag": "div", "text": {"tag": "lark_md", "content": text}}]
    if message.link:
        button = {"tag": "button", "type": "primary", "url": message.link,
                  "text": {"tag": "plain_text", "content": "Vigil"}}  # fmt: skip
        elements.append({"tag": "action", "actions": [button]})
    header = {"title": {"tag": "plain_text", "content": message.title},
              "template": CARD_COLOURS.get(message.severity, "blue")}  # fmt: skip
    return {"msg_type": "interactive", "card": {"header": header, "elements": elements}}


def sign(secret: str, timestamp_s: int) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_fields(secret: str, now_s: float) -> dict[str, str]:
    timestamp = int(now_s)
    return {"timestamp": str(timestamp), "sign": sign(secret, timestamp)}


def error(answer: object) -> str | None:
    if not isinstance(answer, dict):
        return "answer is not a JSON object"
    code = answer.get("code", answer.get("StatusCode"))
    if code is None:
        return "answer has no code"
    if code != 0:
        return f"code {code}: {answer.get('msg', answer.get('StatusMessage', ''))}"
    return None
