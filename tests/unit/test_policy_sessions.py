"""IP theft / change (policy rule 5) and borrowed accounts (two machines at once)."""

from __future__ import annotations

from datetime import timedelta

from detectors.policy.sessions import (
    BORROWED,
    CHANGED,
    SHARED,
    BorrowedAccountDetector,
    BorrowedConfig,
    IpUseConfig,
    IpUseDetector,
)
from tests.unit.policy_support import FakeClock, event, feed, login, parse, restart, rules, sample_index

IP_CFG = IpUseConfig(window=timedelta(minutes=30), min_observations=10, dominance=0.9)


def ip_use() -> IpUseDetector:
    return IpUseDetector(sample_index(), IP_CFG)


def borrowed() -> BorrowedAccountDetector:
    return BorrowedAccountDetector(sample_index(), BorrowedConfig(overlap=timedelta(minutes=10)))


def test_one_ip_two_users_inside_the_window() -> None:
    assert feed(ip_use(), [login(0, "alice", "10.1.1.5"), login(30.01, "bob", "10.1.1.5")]) == []
    alerts = feed(ip_use(), [login(0, "alice", "10.1.1.5"), login(30, "bob", "10.1.1.5")])
    assert rules(alerts) == [SHARED.id] and alerts[0].entity.key == "ip:10.1.1.5"
    assert alerts[0].context["users"] == "alice,bob" and "盗用" in alerts[0].summary.zh


def test_shared_ip_names_the_owner_and_ignores_internet_and_listed_addresses() -> None:
    alerts = feed(ip_use(), [login(0, "lina", "10.10.1.21"), login(1, "bob", "10.10.1.21")])
    assert alerts[0].context["ip_owner"] == "zhangwei"
    assert feed(ip_use(), [login(0, "a", "8.8.8.8"), login(1, "b", "8.8.8.8")]) == []
    det = IpUseDetector(sample_index(), IP_CFG.model_copy(update={"ignore_ips": ["10.9.9.9"]}))
    assert feed(det, [login(0, "a", "10.9.9.9"), login(1, "b", "10.9.9.9")]) == []


def test_usual_ip_changed_after_min_observations() -> None:
    def run(n: int) -> list[str]:
        history = [login(i, "carol", "10.2.0.7") for i in range(n)]
        return rules(feed(ip_use(), [*history, login(n + 1, "carol", "10.2.0.99")]))

    assert run(9) == []
    assert run(10) == [CHANGED.id]


def test_ip_use_restart_and_tick() -> None:
    det, clock = ip_use(), FakeClock()
    feed(det, [login(0, "alice", "10.1.1.5")])
    det = restart(det, ip_use)
    assert rules(feed(det, [login(5, "bob", "10.1.1.5")])) == [SHARED.id]
    det.on_tick(clock.advance(hours=2))
    assert det.state.last_user == {}


def test_borrowed_account_two_clients_at_once() -> None:
    alerts = feed(borrowed(), [login(0, "dave", "10.3.0.1"), login(9, "dave", "10.3.0.2")])
    assert rules(alerts) == [BORROWED.id] and alerts[0].context["origins"] == "ip:10.3.0.1,ip:10.3.0.2"
    assert feed(borrowed(), [login(0, "dave", "10.3.0.1"), login(10.01, "dave", "10.3.0.2")]) == []


def test_borrowed_account_negatives() -> None:
    # liuyang has both addresses assigned; a console logon (host) is not compared with a network one (ip)
    assert feed(borrowed(), [login(0, "liuyang", "10.10.9.10"), login(1, "liuyang", "10.10.9.11")]) == []
    assert feed(borrowed(), [login(0, "erin", host="ws01"), login(1, "erin", "10.3.0.8")]) == []
    logoff = event(1, user="erin", host="ws01", category="authentication", type="end", outcome="success")
    assert feed(borrowed(), [login(0, "erin", host="ws01"), logoff, login(2, "erin", host="ws02")]) == []
    assert rules(feed(borrowed(), [login(0, "erin", host="ws01"), login(2, "erin", host="ws02")])) == [BORROWED.id]


def test_borrowed_out_of_order_and_restart_with_real_sshd_lines() -> None:
    det = borrowed()
    second = parse("Dec  1 10:05:00 app02 sshd[7]: Accepted publickey for frank from 10.4.0.2 port 5122 ssh2")
    first = parse("Dec  1 10:00:00 app01 sshd[6]: Accepted password for frank from 10.4.0.1 port 5121 ssh2")
    feed(det, [second])
    det = restart(det, borrowed)
    assert rules(feed(det, [first])) == [BORROWED.id]
