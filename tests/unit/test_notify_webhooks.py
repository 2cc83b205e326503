"""Webhook notifications (generic JSON, WeCom, DingTalk, Feishu) against a real local HTTP receiver:
content, signatures recomputed from what arrived, and failures that come back as values."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time

import httpx
import pytest
from pydantic import SecretStr

from playbooks.notify import NotifyMessage, WebhookChannel, deliver
from playbooks.notify.webhook import safe_url
from stack.local import free_port
from tests.support.receivers import WebhookReceiver

MESSAGE = NotifyMessage(
    key="inc-7:notify-soc:1", incident_id="inc-7", subject="暴力破解后登录成功：用户 alice", severity="high",
    text="alice 在 5 分钟内失败 37 次后从 10.0.0.66 登录成功。", drill=True,
    link="http://vigil.local/incidents/inc-7", fields={"实体": "user:alice"},
)  # fmt: skip
TOKEN = "0123456789abcdef0123456789abcdef"  # a robot credential in the URL
SECRET = "SECf00dfeedc0ffee1234567890"


def test_generic_json_is_the_message_signed(webhook_receiver: WebhookReceiver) -> None:
    channel = webhook_receiver.channel("json", headers={"Authorization": "Bearer tok-abcdef"}, secret=SECRET)
    assert deliver(channel, MESSAGE, recipients=["zhang.wei"]).ok
    [request] = webhook_receiver.requests
    assert request.path == "/hook" and request.headers["x-vigil-delivery"] == "inc-7:notify-soc:1"
    assert request.headers["authorization"] == "Bearer tok-abcdef"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-vigil-signature"] == expected
    body = request.json
    assert NotifyMessage.model_validate({k: v for k, v in body.items() if k not in ("title", "recipients")}) == MESSAGE
    assert body["title"] == "【演练】[DRILL] 暴力破解后登录成功：用户 alice" and body["recipients"] == ["zhang.wei"]
    assert "暴力破解" in request.body.decode()  # UTF-8 on the wire, not \\u escapes


def test_wecom_markdown(webhook_receiver: WebhookReceiver) -> None:
    channel = webhook_receiver.channel("wecom", path=f"/cgi-bin/webhook/send?key={TOKEN}")
    assert deliver(channel, MESSAGE, recipients=["zhangwei"]).ok
    [request] = webhook_receiver.requests
    assert request.path == "/cgi-bin/webhook/send" and request.query == {"key": TOKEN}
    assert request.headers["x-vigil-delivery"] == MESSAGE.key
    body = request.json
    assert body["msgtype"] == "markdown" and set(body) == {"msgtype", "markdown"}
    content = body["markdown"]["content"]
    assert content.startswith("### 【演练】[DRILL] 暴力破解后登录成功：用户 alice")
    assert "失败 37 次" in content and "**实体**: user:alice" in content and "<@zhangwei>" in content
    assert "[http://vigil.local/incidents/inc-7](http://vigil.local/incidents/inc-7)" in content


def test_wecom_error_code_in_a_200_answer_fails(webhook_receiver: WebhookReceiver,
                                                caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    webhook_receiver.respond(200, {"errcode": 93000, "errmsg": "invalid webhook url"})
    caplog.set_level(logging.INFO)
    channel = webhook_receiver.channel("wecom", path=f"/cgi-bin/webhook/send?key={TOKEN}")
    delivery = deliver(channel, MESSAGE)
    assert not delivery.ok and "errcode 93000: invalid webhook url" in delivery.detail
    assert TOKEN not in caplog.text and "FAILED" in caplog.text  # httpx logs the URL; the key is masked there
    assert "/cgi-bin/webhook/send?***" in caplog.text


def test_dingtalk_markdown_signed(webhook_receiver: WebhookReceiver) -> None:
    channel = webhook_receiver.channel("dingtalk", path=f"/robot/send?access_token={TOKEN}", secret=SECRET)
    before = time.time() * 1000
    assert deliver(channel, MESSAGE, recipients=["manager01"]).ok
    [request] = webhook_receiver.requests
    assert request.query["access_token"] == TOKEN
    timestamp = request.query["timestamp"]
    assert before - 1000 <= int(timestamp) <= time.time() * 1000  # milliseconds, now
    string_to_sign = f"{timestamp}\n{SECRET}".encode()
    expected = base64.b64encode(hmac.new(SECRET.encode(), string_to_sign, hashlib.sha256).digest()).decode()
    assert request.query["sign"] == expected  # received URL-decoded: the sender URL-encoded it
    body = request.json
    assert body["msgtype"] == "markdown" and body["markdown"]["title"] == MESSAGE.title
    assert "失败 37 次" in body["markdown"]["text"] and "@manager01" in body["markdown"]["text"]
    assert body["at"] == {"atUserIds": ["manager01"], "isAtAll": False}


def test_dingtalk_without_a_secret_is_not_signed(webhook_receiver: WebhookReceiver) -> None:
    assert deliver(webhook_receiver.channel("dingtalk", path=f"/robot/send?access_token={TOKEN}"), MESSAGE).ok
    assert webhook_receiver.requests[0].query == {"access_token": TOKEN}


def test_dingtalk_refusal_names_the_reason_not_the_secrets(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond(200, {"errcode": 310000, "errmsg": "sign not match, more: [...]"})
    channel = webhook_receiver.channel("dingtalk", path=f"/robot/send?access_token={TOKEN}", secret=SECRET)
    delivery = deliver(channel, MESSAGE)
    assert not delivery.ok and "errcode 310000: sign not match" in delivery.detail
    assert TOKEN not in delivery.detail and SECRET not in delivery.detail


@pytest.mark.parametrize("style", ["post", "interactive"])
def test_feishu_signed(webhook_receiver: WebhookReceiver, style: str) -> None:
    channel = webhook_receiver.channel("feishu", path=f"/open-apis/bot/v2/hook/{TOKEN}", secret=SECRET, style=style)
    before = int(time.time())
    assert deliver(channel, MESSAGE, recipients=["ou_123"]).ok
    [request] = webhook_receiver.requests
    body = request.json
    assert before - 1 <= int(body["timestamp"]) <= time.time()  # seconds
    key = f"{body['timestamp']}\n{SECRET}".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert body["msg_type"] == style and request.headers["x-vigil-delivery"] == MESSAGE.key
    if style == "post":
        post = body["content"]["post"]["zh_cn"]
        assert post["title"] == MESSAGE.title
        assert [{"tag": "text", "text": MESSAGE.text}] in post["content"]
        assert [{"tag": "a", "text": MESSAGE.link, "href": MESSAGE.link}] in post["content"]
        assert [{"tag": "at", "user_id": "ou_123"}] in post["content"]
    else:
        card = body["card"]
        assert card["header"] == {"title": {"tag": "plain_text", "content": MESSAGE.title}, "template": "red"}
        text = card["elements"][0]["text"]
        assert text["tag"] == "lark_md" and "失败 37 次" in text["content"] and "<at id=ou_123></at>" in text["content"]
        assert card["elements"][1]["actions"][0]["url"] == MESSAGE.link


def test_feishu_refusal(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond(200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"})
    delivery = deliver(webhook_receiver.channel("feishu", path=f"/open-apis/bot/v2/hook/{TOKEN}"), MESSAGE)
    assert not delivery.ok and "code 19021: sign match fail" in delivery.detail and TOKEN not in delivery.detail


@pytest.mark.parametrize("fmt", ["json", "wecom", "dingtalk", "feishu"])
def test_http_500_fails(webhook_receiver: WebhookReceiver, fmt: str) -> None:
    webhook_receiver.respond(500, b"upstream exploded")
    delivery = deliver(webhook_receiver.channel(fmt), MESSAGE)
    assert not delivery.ok and delivery.detail == "HTTP 500: upstream exploded"
    assert len(webhook_receiver.requests) == 1


def test_an_answer_that_is_not_json_fails_for_a_robot(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond(200, b"<html>captive portal</html>")
    delivery = deliver(webhook_receiver.channel("wecom"), MESSAGE)
    assert not delivery.ok and "not JSON" in delivery.detail
    assert deliver(webhook_receiver.channel("json"), MESSAGE).ok  # a generic receiver may answer anything 2xx


def test_a_slow_receiver_times_out(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond(200, delay_s=2.0)
    delivery = deliver(webhook_receiver.channel("json", timeout_s=0.3), MESSAGE)
    assert not delivery.ok and "ReadTimeout" in delivery.detail


def test_a_receiver_that_is_down_fails() -> None:
    url = f"http://127.0.0.1:{free_port()}/robot/send?access_token={TOKEN}"  # nothing listens there
    delivery = deliver(WebhookChannel(type="webhook", name="down", url=SecretStr(url), format="dingtalk"), MESSAGE)
    assert not delivery.ok and "ConnectError" in delivery.detail and TOKEN not in delivery.detail


def test_safe_url_masks_credentials() -> None:
    assert safe_url(httpx.URL(f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}")) == (
        "https://open.feishu.cn/open-apis/bot/v2/hook/***"
    )
    assert safe_url(httpx.URL(f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={TOKEN}")) == (
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?***")  # fmt: skip


def test_https_with_a_private_ca(https_webhook_receiver: WebhookReceiver) -> None:
    channel = https_webhook_receiver.channel("feishu", path=f"/open-apis/bot/v2/hook/{TOKEN}")
    assert channel.url.get_secret_value().startswith("https://") and deliver(channel, MESSAGE).ok
    assert https_webhook_receiver.requests[0].json["msg_type"] == "post"
    untrusted = deliver(channel.model_copy(update={"ca_file": None}), MESSAGE)  # the system CAs do not know it
    assert not untrusted.ok and "CERTIFICATE_VERIFY_FAILED" in untrusted.detail and TOKEN not in untrusted.detail
    assert len(https_webhook_receiver.requests) == 1
