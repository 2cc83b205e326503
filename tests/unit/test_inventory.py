"""The entity inventory: loading (YAML, HR/CMDB CSV exports), error locations, lookups, working time."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from core.models.entity import Clearance, UserStatus, WorkCalendar, WorkingHours, is_working_time
from detectors.inventory import EntityIndex, InventoryError, entity_documents, load_inventory
from tests.unit.policy_support import SAMPLE_INVENTORY, SHANGHAI, sample_index


def test_sample_inventory_loads_with_chinese_and_english_names() -> None:
    inv = load_inventory(SAMPLE_INVENTORY)
    users = {u.name: u for u in inv.users}
    assert users["zhangwei"].clearance is Clearance.CONFIDENTIAL  # written 机密
    assert users["wangfang"].clearance is Clearance.INTERNAL  # written 内部
    assert users["zhaolei"].status is UserStatus.TRANSFERRED  # written 调岗
    assert Clearance("绝密").rank > Clearance("Confidential").rank > Clearance.INTERNAL.rank > Clearance("公开").rank
    assert inv.calendar.makeup_days[0] == date(2026, 2, 14)


def test_lookups() -> None:
    idx = sample_index()
    assert idx.user("CORP\\ZhangWei") is idx.user("zhangwei@corp.example") is idx.user(" ZHANGWEI ")
    assert idx.user("admin-liuyang") is idx.user("liuyang")  # alias
    assert idx.user("nobody-here") is None
    assert idx.owner_of_host("WS-FIN-01.corp.example") is idx.user("zhangwei")
    assert idx.owner_of_ip("10.10.3.14") is idx.user("wangfang")  # inside 10.10.3.0/28
    assert idx.owner_of_ip("10.10.3.16") is None
    # longest prefix wins, Windows and POSIX spellings alike
    assert idx.resource_for_path(r"\\FS01\Finance\Payroll\2026-11.xlsx").id == "finance-payroll"
    assert idx.resource_for_path("/srv/finance/q3.xlsx").id == "finance-share"
    assert idx.resource_for_path("/srv/financed/q3.xlsx") is None  # a prefix is a whole path component
    assert idx.resource_for_share(r"\\*\HR").id == "hr-share"
    assert idx.zone_for_ip("10.20.5.5").id == "core-zone" and idx.resource_for_host("DB01").id == "core-zone"
    assert idx.vendor(ip="203.0.113.9").id == "acme-maintenance" and idx.vendor(account="ACME-OPS") is not None


def test_csv_exports(tmp_path: Path) -> None:
    (tmp_path / "hr.csv").write_text(
        "\ufeffname,department,role,clearance,status,status_changed,hosts,ips,work_days,work_hours\n"
        "sunli,Legal,lawyer,机密,active,,ws-legal-1,10.30.0.5,mon;tue;wed;thu;fri,08:30-17:30\n"
        "zhoumin,Legal,lawyer,internal,离职,2026-11-01,,,,\n",
        encoding="utf-8",
    )
    (tmp_path / "cmdb.csv").write_text(
        "id,kind,classification,allowed_roles,paths,important\nlegal,share,secret,lawyer,/srv/legal,是\n"
    )
    inv = load_inventory(tmp_path / "hr.csv", tmp_path / "cmdb.csv")
    sunli = EntityIndex.build(inv).user("sunli")
    assert sunli and sunli.clearance is Clearance.CONFIDENTIAL and sunli.ips == ["10.30.0.5/32"]
    assert sunli.working_hours and sunli.working_hours.days == [1, 2, 3, 4, 5]
    assert inv.users[1].status is UserStatus.DEPARTED
    assert inv.resources[0].important and inv.resources[0].classification is Clearance.SECRET


def test_yaml_include_of_csv(tmp_path: Path) -> None:
    (tmp_path / "hr.csv").write_text("name,role\nqianyu,engineer\n")
    (tmp_path / "inv.yml").write_text("include: [hr.csv]\nusers:\n  - name: sunli\n")
    assert [u.name for u in load_inventory(tmp_path / "inv.yml").users] == ["sunli", "qianyu"]


def test_csv_error_names_file_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "hr.csv"
    path.write_text("name,clearance\nok,public\nbad,top-secret\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert str(path) in str(err.value) and "row 3" in str(err.value) and "field clearance" in str(err.value)
    assert "top-secret" in str(err.value)


def test_csv_departed_without_date_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "hr.csv"
    path.write_text("name,status\nzhoumin,departed\n")
    with pytest.raises(InventoryError, match=r"row 2: field .*: .*status_changed"):
        load_inventory(path)


def test_csv_unknown_header(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("who,what\na,b\n")
    with pytest.raises(InventoryError, match=r"x\.csv:1: header"):
        load_inventory(path)


def test_yaml_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_text("users:\n  - name: a\n  - name: b\n    ips: [10.0.0.300]\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert f"{path}:4: field users.1.ips" in str(err.value)


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_text("users:\n  - name: a\n   bad: [\n")
    with pytest.raises(InventoryError, match=r"inv\.yml:\d+: not valid YAML"):
        load_inventory(path)


def test_missing_file_and_duplicates(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot read"):
        load_inventory(tmp_path / "none.yml")
    (tmp_path / "a.csv").write_text("name\nsunli\nSunLi\n")
    with pytest.raises(InventoryError, match="row 3: field name: duplicate of row 2"):
        load_inventory(tmp_path / "a.csv")


def test_entity_documents_have_deterministic_ids() -> None:
    docs = entity_documents(load_inventory(SAMPLE_INVENTORY))
    assert {"user:zhangwei", "resource:finance-share", "vendor:acme-maintenance", "calendar:default"} <= set(docs)
    assert docs == entity_documents(load_inventory(SAMPLE_INVENTORY))
    assert docs["user:zhangwei"]["clearance"] == "confidential"


CAL = WorkCalendar(holidays=["2026-10-01..2026-10-07"], makeup_days=["2026-10-10"])


@pytest.mark.parametrize(
    ("local", "own", "working"),
    [
        ("2026-10-09 09:00", None, True),  # Friday, opening minute
        ("2026-10-09 08:59", None, False),
        ("2026-10-09 18:00", None, False),  # end is exclusive
        ("2026-10-02 10:00", None, False),  # National Day holiday (a Friday)
        ("2026-10-10 10:00", None, True),  # Saturday make-up working day
        ("2026-10-11 10:00", None, False),  # Sunday
        # night shift 22:00-06:00 Mon-Fri: Friday night runs into Saturday morning
        ("2026-10-16 23:30", WorkingHours(days=[5], hours=["22:00-06:00"]), True),
        ("2026-10-17 05:59", WorkingHours(days=[5], hours=["22:00-06:00"]), True),
        ("2026-10-17 06:00", WorkingHours(days=[5], hours=["22:00-06:00"]), False),
        ("2026-10-17 23:30", WorkingHours(days=[5], hours=["22:00-06:00"]), False),
        # a shift that starts on a holiday is off; one that started the evening before still counts
        ("2026-10-01 23:00", WorkingHours(days=[4], hours=["22:00-06:00"]), False),
        ("2026-10-01 03:00", WorkingHours(days=[3], hours=["22:00-06:00"]), True),
        ("2026-10-01 03:00", WorkingHours(days=[3], hours=["22:00-06:00"], follow_calendar=False), True),
    ],
)
def test_working_time_in_shanghai(local: str, own: WorkingHours | None, working: bool) -> None:
    ts = datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI)
    assert is_working_time(ts, CAL, own) is working


def test_working_time_uses_the_zone_not_utc() -> None:
    # 01:30 UTC is 09:30 in Shanghai: working; a UTC reading would call it night.
    ts = datetime.fromisoformat("2026-10-09T01:30:00+00:00")
    assert is_working_time(ts, CAL)


def test_policy_config_from_yaml_with_located_errors(tmp_path: Path) -> None:
    from detectors.policy import load_policy_config

    path = tmp_path / "policy.yml"
    path.write_text("brute_force:\n  failures: 3\n  window: PT5M\nmail:\n  max_bytes: 1048576\n")
    cfg = load_policy_config(path)
    assert cfg.brute_force.failures == 3 and cfg.brute_force.window.total_seconds() == 300
    assert cfg.mail.max_bytes == 1048576 and cfg.mass_copy.min_files == 200
    path.write_text("brute_force:\n  failures: 3\nmass_copy:\n  min_files: 0\n")
    with pytest.raises(InventoryError, match=r"policy\.yml:4: field mass_copy\.min_files"):
        load_policy_config(path)
    path.write_text("brute_forse:\n  failures: 3\n")
    with pytest.raises(InventoryError, match=r"policy\.yml:1: field brute_forse"):
        load_policy_config(path)
