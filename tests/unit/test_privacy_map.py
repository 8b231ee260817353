"""The one map of personal data covers every column of every table, and nothing else."""

from __future__ import annotations

import pytest

from core import privacy
from core.models import Base


def test_every_column_says_whether_it_holds_personal_data():
    missing = [
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name not in privacy.MAP.get(table.name, {})
    ]
    assert missing == [], (
        "add these columns to core/privacy.py MAP (LeadData, Staff or NONE): " + ", ".join(missing)
    )


def test_the_map_names_no_column_that_does_not_exist():
    real = {t.name: {c.name for c in t.columns} for t in Base.metadata.sorted_tables}
    stale = [
        f"{table}.{column}"
        for table, columns in privacy.MAP.items()
        for column in columns
        if column not in real.get(table, set())
    ]
    assert stale == []


def test_a_new_column_without_a_line_is_caught(monkeypatch):
    leads = dict(privacy.MAP["leads"])
    del leads["phone"]
    monkeypatch.setitem(privacy.MAP, "leads", leads)
    with pytest.raises(AssertionError, match=r"leads\.phone"):
        test_every_column_says_whether_it_holds_personal_data()


def test_the_tombstone_keeps_what_statistics_need():
    leads = privacy.MAP["leads"]
    for kept in ("id", "stage", "stage_changed_at", "source", "campaign", "fit", "engagement"):
        assert not isinstance(leads[kept], privacy.LeadData)
    for gone in ("email", "first_name", "last_name", "phone", "properties", "company"):
        assert isinstance(leads[gone], privacy.LeadData)


def test_the_keyed_hash_needs_the_secret_and_ignores_case():
    one, other = b"1" * 32, b"2" * 32
    assert privacy.email_hash(one, " Ada@Acme.DE ") == privacy.email_hash(one, "ada@acme.de")
    assert privacy.email_hash(one, "ada@acme.de") != privacy.email_hash(other, "ada@acme.de")
    assert "ada" not in privacy.email_hash(one, "ada@acme.de")


def test_privacy_settings_are_validated_like_the_rest():
    from core.config import ConfigError, parse_config

    base = {"marketing": {"channel": "C0MKTG"}}
    assert parse_config(base).privacy.events_days == 400
    with pytest.raises(ConfigError) as bad:
        parse_config({**base, "privacy": {"events_days": 0, "keep_forever": True}})
    assert any(e.startswith("privacy.events_days:") for e in bad.value.errors)
    assert "privacy.keep_forever: unknown key (check the spelling)" in bad.value.errors
