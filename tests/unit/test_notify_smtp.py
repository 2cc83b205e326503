"""SMTP notifications against a real local SMTP server (aiosmtpd): content, TLS, login, failures."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from playbooks.notify import NotifyMessage, deliver
from playbooks.notify.smtp import message_id
from stack.local import free_port
from tests.support.receivers import SmtpReceiver

MESSAGE = NotifyMessage(
    key="inc-42:contact-duty:1", incident_id="inc-42", subject="勒索软件告警：ws01 文件被批量加密", severity="critical",
    text="主机 ws01 在 3 分钟内有 1,200 个文件被改名为 .locked。\n请值班人员立即确认。", drill=True,
    link="http://vigil.local/incidents/inc-42", fields={"实体": "host:ws01", "规则": "ransomware-rename-burst"},
)  # fmt: skip


def test_a_zh_cn_drill_mail_arrives_with_its_idempotency_key(smtp_receiver: SmtpReceiver) -> None:
    delivery = deliver(smtp_receiver.channel(), MESSAGE)
    assert delivery.ok, delivery.detail
    assert delivery.channel == "test-mail" and delivery.at.tzinfo is not None
    [mail] = smtp_receiver.messages
    assert mail.rcpt_tos == ["duty@test.local"] and mail.mail_from == "vigil@test.local"
    assert mail.subject == "【演练】[DRILL] 勒索软件告警：ws01 文件被批量加密"
    assert mail.message["Message-ID"] == "<inc-42=3Acontact-duty=3A1@vigil>" == message_id(MESSAGE.key)
    assert mail.message["X-Vigil-Delivery"] == "inc-42:contact-duty:1"
    assert mail.message["X-Vigil-Drill"] == "true" and mail.message["X-Vigil-Incident"] == "inc-42"
    assert str(mail.message["From"]) == "Vigil 安全值班 <vigil@test.local>"
    body = mail.body
    assert "1,200 个文件被改名为 .locked" in body and "请值班人员立即确认" in body
    assert "实体: host:ws01" in body and "http://vigil.local/incidents/inc-42" in body and "演练" in body
    assert mail.message.get_content_charset() == "utf-8"


def test_recipients_of_the_call_replace_the_channels(smtp_receiver: SmtpReceiver) -> None:
    real = MESSAGE.model_copy(update={"drill": False})
    assert deliver(smtp_receiver.channel(), real, recipients=["zhang.wei@test.local", "li.na@test.local"]).ok
    [mail] = smtp_receiver.messages
    assert mail.rcpt_tos == ["zhang.wei@test.local", "li.na@test.local"]
    assert mail.subject == MESSAGE.subject and "X-Vigil-Drill" not in mail.message  # no drill marking
    assert str(mail.message["To"]) == "zhang.wei@test.local, li.na@test.local"


def test_no_recipient_at_all_is_a_failed_delivery(smtp_receiver: SmtpReceiver) -> None:
    delivery = deliver(smtp_receiver.channel(recipients=[]), MESSAGE)
    assert not delivery.ok and "no recipients" in delivery.detail and smtp_receiver.messages == []


def test_starttls_with_login(smtp_receiver_factory: Callable[..., SmtpReceiver]) -> None:
    receiver = smtp_receiver_factory(tls="starttls", login=("vigil", "s3cret-pw"))
    assert deliver(receiver.channel(), MESSAGE).ok
    assert [m.subject for m in receiver.messages] == [MESSAGE.title]


def test_a_wrong_password_fails_without_showing_it(smtp_receiver_factory: Callable[..., SmtpReceiver]) -> None:
    receiver = smtp_receiver_factory(tls="starttls", login=("vigil", "s3cret-pw"))
    delivery = deliver(receiver.channel(password="wrong-Passw0rd"), MESSAGE)
    assert not delivery.ok and "SMTPAuthenticationError" in delivery.detail
    assert "wrong-Passw0rd" not in delivery.detail and receiver.messages == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # aiosmtpd: implicit TLS is TLS
def test_implicit_tls(smtp_receiver_factory: Callable[..., SmtpReceiver]) -> None:
    receiver = smtp_receiver_factory(tls="ssl", login=("vigil", "pw-1234"))
    assert deliver(receiver.channel(), MESSAGE).ok and len(receiver.messages) == 1


def test_an_untrusted_certificate_is_refused(smtp_receiver_factory: Callable[..., SmtpReceiver]) -> None:
    receiver = smtp_receiver_factory(tls="ssl")
    delivery = deliver(receiver.channel(ca_file=None), MESSAGE)  # the system CAs do not know the test CA
    assert not delivery.ok and "CERTIFICATE_VERIFY_FAILED" in delivery.detail and receiver.messages == []


def test_starttls_against_a_server_without_it_fails(smtp_receiver: SmtpReceiver) -> None:
    delivery = deliver(smtp_receiver.channel(security="starttls"), MESSAGE)
    assert not delivery.ok and "STARTTLS" in delivery.detail and smtp_receiver.messages == []


def test_a_server_that_is_down_is_a_failed_delivery(smtp_receiver: SmtpReceiver) -> None:
    delivery = deliver(smtp_receiver.channel(port=free_port()), MESSAGE)
    assert not delivery.ok and "ConnectionRefusedError" in delivery.detail


def test_a_refused_recipient_is_reported(smtp_receiver_factory: Callable[..., SmtpReceiver]) -> None:
    receiver = smtp_receiver_factory(refuse={"gone@test.local"})
    delivery = deliver(receiver.channel(), MESSAGE, recipients=["duty@test.local", "gone@test.local"])
    assert not delivery.ok and "accepted 1 of 2" in delivery.detail and "gone@test.local (550" in delivery.detail
    assert [m.rcpt_tos for m in receiver.messages] == [["duty@test.local"]]


def test_every_recipient_refused_is_a_failed_delivery(smtp_receiver_factory: Callable[..., SmtpReceiver]) -> None:
    receiver = smtp_receiver_factory(refuse={"gone@test.local"})
    delivery = deliver(receiver.channel(recipients=["gone@test.local"]), MESSAGE)
    assert not delivery.ok and "SMTPRecipientsRefused" in delivery.detail and receiver.messages == []


def test_message_ids_are_valid_and_distinct_for_distinct_keys() -> None:
    assert message_id("inc-1:step.a:2") == "<inc-1=3Astep=2Ea=3A2@vigil>"
    assert message_id("a=3A") != message_id("a:")  # the escape character is itself escaped
    assert message_id("事件") == "<=E4=BA=8B=E4=BB=B6@vigil>"
