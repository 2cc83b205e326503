"""The notification channels file: typed channels, `${ENV}` credentials, errors naming file, line and field;
and the console channel."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from core.errors import ConfigError
from playbooks.notify import ConsoleChannel, NotifyConfig, NotifyMessage, SmtpChannel, WebhookChannel, deliver

GOOD = """\
channels:
  duty-mail:
    type: smtp
    host: smtp.corp.example
    username: vigil
    password: "${TEST_VIGIL_SMTP_PW}"
    from: "Vigil 安全值班 <vigil@corp.example>"
    recipients: [soc@corp.example]
  soc-dingtalk:
    type: webhook
    format: dingtalk
    url: "https://oapi.dingtalk.com/robot/send?access_token=${TEST_VIGIL_DT_TOKEN}"
    secret: "${TEST_VIGIL_DT_SECRET}"
  log: {type: console, level: info}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "notify.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_VIGIL_SMTP_PW", "pw-from-env")
    monkeypatch.setenv("TEST_VIGIL_DT_TOKEN", "tok123")
    monkeypatch.setenv("TEST_VIGIL_DT_SECRET", "SECabc")


def test_channels_load_typed_with_credentials_from_the_environment(tmp_path: Path, env: None) -> None:
    config = NotifyConfig.load(write(tmp_path, GOOD))
    mail, robot, log = config.channel("duty-mail"), config.channel("soc-dingtalk"), config.channel("log")
    assert isinstance(mail, SmtpChannel) and isinstance(robot, WebhookChannel) and isinstance(log, ConsoleChannel)
    assert (mail.name, mail.security, mail.sender, mail.recipients) == (
        "duty-mail", "starttls", "Vigil 安全值班 <vigil@corp.example>", ["soc@corp.example"])  # fmt: skip
    assert mail.password is not None and mail.password.get_secret_value() == "pw-from-env"
    assert robot.url.get_secret_value().endswith("access_token=tok123") and robot.format == "dingtalk"
    assert robot.secret is not None and robot.secret.get_secret_value() == "SECabc"
    assert "pw-from-env" not in repr(config) and "tok123" not in repr(config)  # secrets stay out of reprs
    with pytest.raises(ConfigError, match="no notification channel 'pager'"):
        config.channel("pager")


def test_an_unset_variable_names_file_line_and_field(tmp_path: Path, env: None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("TEST_VIGIL_DT_SECRET")
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as error:
        NotifyConfig.load(path)
    assert str(error.value) == (f"{path}:13: field channels.soc-dingtalk.secret: "
                                "environment variable TEST_VIGIL_DT_SECRET is not set")  # fmt: skip


@pytest.mark.parametrize(("text", "where"), [
    ("channels:\n  a:\n    type: pager\n", ":2: field channels.a: Input tag 'pager'"),
    ("channels:\n  a:\n    type: smtp\n    host: h\n    from: x@y.z\n    port: 99999\n",
     ":6: field channels.a.smtp.port"),
    ("channels:\n  a:\n    type: smtp\n    host: h\n", ":2: field channels.a.smtp.from: Field required"),
    ("channels:\n  a:\n    type: webhook\n    url: ftp://x\n", ":4: field channels.a.webhook.url"),
    ("channels:\n  a:\n    type: webhook\n    url: http://x\n    format: slack\n",
     ":5: field channels.a.webhook.format"),
    ("channels:\n  a:\n    type: smtp\n    host: h\n    from: x@y.z\n    username: u\n",
     ":2: field channels.a.smtp: Value error, username and password go together"),
    ("channels:\n  a: {type: console, name: b}\n", "field (top level): Value error, channel 'a' has name 'b'"),
    ("channels: [\n", ": not valid YAML"),
])  # fmt: skip
def test_bad_files_are_refused_with_the_place(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="^" + str(path)) as error:
        NotifyConfig.load(path)
    assert where in str(error.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the notification channels file"):
        NotifyConfig.load(tmp_path / "absent.yml")


def test_the_console_channel_logs_the_marked_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vigil.notify")
    message = NotifyMessage(key="inc-1:log:1", incident_id="inc-1", subject="日志被清除", text="Security 日志被清空",
                            severity="high", drill=True)  # fmt: skip
    delivery = deliver(ConsoleChannel(type="console", name="log", level="error"), message, recipients=["duty"])
    assert delivery.ok and delivery.detail == "logged at error"
    record = next(r for r in caplog.records if r.levelno == logging.ERROR)
    text = record.getMessage()
    assert "【演练】[DRILL] 日志被清除 → duty (inc-1:log:1)" in text and "Security 日志被清空" in text


def test_a_subject_already_marked_as_a_drill_is_not_marked_twice() -> None:
    marked = NotifyMessage(key="k", incident_id="i", subject="[演练 DRILL] 病毒", text="", severity="low", drill=True)
    assert marked.title == "[演练 DRILL] 病毒"
    assert marked.model_copy(update={"subject": "病毒"}).title == "【演练】[DRILL] 病毒"
