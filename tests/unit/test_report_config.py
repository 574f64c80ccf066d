"""`[report]` and `[[report]]`: one report or several, named, and what the environment may set."""

from __future__ import annotations

from pathlib import Path

import pytest

from tossd.config.load import load_config
from tossd.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tossd.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_a_single_report_table_is_one_report_named_report(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[report]\nat = "06:30"\n'), {})
    [report] = config.reports
    assert (report.name, report.period, report.at, report.route_name) == (
        "report",
        "day",
        "06:30",
        "[report]",
    )


def test_no_report_table_is_the_default_daily_report(tmp_path: Path) -> None:
    [report] = load_config(write(tmp_path, ""), {}).reports
    assert (report.name, report.period, report.enabled) == ("report", "day", True)


def test_report_tables_are_several_reports_named_by_place(tmp_path: Path) -> None:
    text = (
        '[[report]]\n[[report]]\nperiod = "month"\n[[report]]\nname = "weekly"\nperiod = "week"\n'
    )
    config = load_config(write(tmp_path, text), {})
    assert [(r.name, r.period, r.route_name) for r in config.reports] == [
        ("report", "day", "[report]"),
        ("report-2", "month", "[report report-2]"),
        ("weekly", "week", "[report weekly]"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Two tables of one name would share their sent periods and their ledger rows.
        ('[[report]]\nname = "x"\n[[report]]\nname = "x"\n', "used twice"),
        # A period tossd does not know.
        ('[report]\nperiod = "year"\n', "period"),
        # A name that cannot be a route's.
        ('[report]\nname = "a b"\n', "name"),
    ],
)
def test_bad_report_tables_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), {})


def test_the_environment_sets_a_single_report_but_not_one_of_several(tmp_path: Path) -> None:
    single = load_config(write(tmp_path, "[report]\n"), {"TOSSD_REPORT__AT": "08:15"})
    assert single.reports[0].at == "08:15"
    several = write(tmp_path, '[[report]]\n[[report]]\nperiod = "week"\n')
    with pytest.raises(ConfigError, match=r"\[\[report\]\] tables; set them whole"):
        load_config(several, {"TOSSD_REPORT__AT": "08:15"})
    whole = '[{ name = "d" }, { name = "m", period = "month" }]'
    replaced = load_config(several, {"TOSSD_REPORT": whole})
    assert [(r.name, r.period) for r in replaced.reports] == [("d", "day"), ("m", "month")]
