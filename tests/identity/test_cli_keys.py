"""`cxgov keys issue|list|revoke` as the real command: names checked against the charter, the token shown once."""

from __future__ import annotations

import json
from pathlib import Path

from cli.clikit import child_env, run_subprocess
from harness import CHARTER


def keys(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = child_env({"CXGOV_HOME": str(tmp_path), "CXGOV_CHARTER": str(CHARTER)})
    done = run_subprocess("keys", *args, env=env)
    return done.code, done.out, done.err


def test_issue_list_revoke(tmp_path: Path) -> None:
    code, out, _ = keys(tmp_path, "issue", "--actor", "support-bot", "--expires", "30d", "--json")
    issued = json.loads(out)
    assert code == 0 and set(issued) == {"key_id", "principal", "kind", "expires", "token"}
    assert (issued["principal"], issued["kind"]) == ("support-bot", "actor")

    code, out, _ = keys(tmp_path, "issue", "--person", "ana", "--expires", "never")
    assert code == 0 and "expires never" in out and "shown once" in out

    code, out, _ = keys(tmp_path, "list", "--json")
    listed = json.loads(out)["keys"]
    assert [(key["principal"], key["state"]) for key in listed] == [("support-bot", "active"), ("ana", "active")]
    assert issued["token"] not in out

    code, out, _ = keys(tmp_path, "revoke", issued["key_id"])
    assert code == 0 and out.strip() == f"revoked {issued['key_id']} (actor support-bot)"
    code, out, _ = keys(tmp_path, "list")
    assert "revoked" in out.splitlines()[0]


def test_a_name_the_charter_does_not_know_gets_no_key(tmp_path: Path) -> None:
    code, out, err = keys(tmp_path, "issue", "--person", "support-bot")
    assert (code, out) == (2, "")
    assert err.startswith("cxgov: 'support-bot' is not a person of charter acme-retail v3 (known: ana, ben,")
    code, _, err = keys(tmp_path, "issue", "--actor", "x", "--person", "ana")
    assert code == 2 and err.strip() == "cxgov: give exactly one of --actor NAME or --person NAME"
    code, _, err = keys(tmp_path, "issue", "--person", "ana", "--expires", "soon")
    assert code == 2 and "'soon' is not a duration" in err
    code, _, err = keys(tmp_path, "revoke", "k0000000000000000")
    assert code == 2 and err.strip() == "cxgov: no key k0000000000000000"
