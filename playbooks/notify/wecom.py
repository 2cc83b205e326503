"""WeCom (企业微信) group robot: `POST …/cgi-bin/webhook/send?key=…` with `{"msgtype": "markdown",
"markdown": {"content": …}}`; members are mentioned with `<@userid>` inside the Markdown. The answer is HTTP 200
with `{"errcode": 0, "errmsg": "ok"}`; any other `errcode` is a failure.

Format: WeCom 群机器人配置说明, https://developer.work.weixin.qq.com/document/path/91770 (read through the
summary at https://docs.zhuonian.xyz/api/wecom-webhook.html). The robot has no signing: its key is in the URL.
"""

from __future__ import annotations

from playbooks.notify.message import NotifyMessage, markdown


def payload(message: NotifyMessage, recipients: list[str] | None) -> dict[str, object]:
    mentions = " ".join(f"<@{r}>" for r in recipients or [])
    content = markdown(message) + (f"\n\n{mentions}" if mentions else "")
    return {"msgtype": "markdown", "markdown": {"content": content}}


def error(answer: object) -> str | None:
    return errcode_error(answer)


def errcode_error(answer: object) -> str | None:
    """WeCom's and DingTalk's shared answer shape: `errcode` 0 is success."""
    if not isinstance(answer, dict) or "errcode" not in answer:
        return "answer has no errcode"
    if answer["errcode"] != 0:
        return f"errcode {answer['errcode']}: {answer.get('errmsg', '')}"
    return None
