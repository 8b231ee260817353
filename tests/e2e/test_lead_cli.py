"""`leadbot lead export|erase|unsuppress` as an operator runs them: one clear line for every
mistake, never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.commands import leadbot

ROOT = Path(__file__).resolve().parents[2]


def env_for(tmp_path):
    return {
        **os.environ,
        "LEADBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "LEADBOT_CONFIG": str(ROOT / "leadbot.example.toml"),
    }


def test_export_erase_twice_unknown_and_unsuppress(tmp_path):
    env = env_for(tmp_path)
    csv = tmp_path / "leads.csv"
    csv.write_text(
        'email,first_name,notes\nzoe@acme.de,"Zoë ""Q"" 😀",line one\n', encoding="utf-8"
    )
    assert leadbot("import", str(csv), env=env, cwd=tmp_path).returncode == 0

    exported = leadbot("lead", "export", "ZOE@acme.de", env=env, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert document["lead"]["first_name"] == 'Zoë "Q" 😀'
    assert document["lead"]["properties"] == {"notes": "line one"}

    unknown = leadbot("lead", "erase", "nobody@acme.de", "--reason", "x", env=env, cwd=tmp_path)
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert (
        unknown.stderr.strip()
        == "leadbot: no lead has the address 'nobody@acme.de'; nothing changed"
    )

    erased = leadbot("lead", "erase", "zoe@acme.de", "--reason", "ticket 12", env=env, cwd=tmp_path)
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout.startswith(f"lead {document['lead_id']} erased")
    assert "Zo" not in (tmp_path / "cli.db").read_bytes().decode("utf-8", "replace")

    again = leadbot("lead", "erase", "zoe@acme.de", "--reason", "again", env=env, cwd=tmp_path)
    assert again.returncode == 1 and "erased earlier (suppressed)" in again.stderr
    by_id = leadbot(
        "lead", "erase", str(document["lead_id"]), "--reason", "again", env=env, cwd=tmp_path
    )
    assert by_id.returncode == 1 and "already erased" in by_id.stderr

    rejected = leadbot("import", str(csv), env=env, cwd=tmp_path)
    assert "rejected 1" in rejected.stdout
    assert "suppressed" in (tmp_path / "leads.rejects.csv").read_text(encoding="utf-8")

    back = leadbot("lead", "unsuppress", "zoe@acme.de", env=env, cwd=tmp_path)
    assert back.returncode == 0, back.stderr
    assert "imported 1" in leadbot("import", str(csv), env=env, cwd=tmp_path).stdout
    twice = leadbot("lead", "unsuppress", "zoe@acme.de", env=env, cwd=tmp_path)
    assert twice.returncode == 1 and "was not suppressed" in twice.stderr

    missing = leadbot("lead", "erase", "zoe@acme.de", env=env, cwd=tmp_path)
    assert missing.returncode == 2 and "--reason" in missing.stderr


def test_jobs_run_prune_says_what_retention_did(tmp_path):
    env = {
        **env_for(tmp_path),
        "SLACK_BOT_TOKEN": "xoxb-unused",
        "LEADBOT_SLACK_API_URL": "http://127.0.0.1:9/api/",
    }
    result = leadbot(
        "jobs", "run", "prune", "--at", "2030-01-01T03:30:00+00:00", env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert (
        "prune: 0 old form record(s) forgotten; 0 raw event(s) folded into 0 lead(s)' scores and "
        "deleted; anonymized 0 unqualified and 0 nurture lead(s)" in result.stdout
    )
