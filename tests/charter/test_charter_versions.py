"""Charter versions and sign-offs: a production worker refuses what nobody signed and versions that go back.

`cxgov worker` runs as a real process pointed at a Temporal address where nothing listens: it checks the
charter before connecting, so exit 2 with the problems proves it refused, and exit 1 ("cannot reach
Temporal") proves the charter passed. Signatures here go into the registry directly (what the API records
after checking the credential; the API path itself is tested in test_charter_api.py).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli.clikit import UNREACHABLE, child_env, run_subprocess
from harness import CHARTER, Outcome, write_charter

from cxgov.charter import CharterCache, read_charter
from cxgov.charter.loader import RECHECK_REFUSED
from cxgov.charter.registry import EMBEDDED_SIGNER, CharterRegistry
from cxgov.errors import CharterError
from cxgov.settings import Settings
from cxgov.stack import admit_charter

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'home' / 'audit.db'}"


def worker(tmp_path: Path, charter: Path) -> Outcome:
    settings = {
        "CXGOV_HOME": str(tmp_path / "home"),
        "CXGOV_TEMPORAL_ADDRESS": UNREACHABLE,
        "CXGOV_CHARTER": str(charter),
    }
    return run_subprocess("worker", env=child_env(settings), timeout=60)


def sign(tmp_path: Path, charter: Path, *functions: str) -> None:
    loaded = read_charter(charter)
    registry = CharterRegistry(url(tmp_path))
    try:
        for signoff in loaded.charter.signoffs:
            if signoff.function in functions:
                registry.sign(loaded=loaded, function=signoff.function, person=signoff.by, via="key k-test", now=NOW)
    finally:
        registry.close()


def record_load(tmp_path: Path, charter: Path) -> None:
    registry = CharterRegistry(url(tmp_path))
    try:
        registry.record_load(read_charter(charter), worker="host/1/queue", now=NOW)
    finally:
        registry.close()


def passed_the_charter_check(done: Outcome) -> bool:
    """Refused charters exit 2; a charter that passed gets as far as connecting to (unreachable) Temporal."""
    return done.code == 1 and "sign-off" not in done.err and "version" not in done.err


def test_an_unsigned_then_under_signed_charter_is_refused_by_a_production_worker(tmp_path: Path) -> None:
    sha = read_charter(CHARTER).sha256[:12]
    done = worker(tmp_path, CHARTER)
    assert done.code == 2, done
    assert done.out == ""
    assert done.err.splitlines() == [
        f"cxgov: charter acme-retail v3 (sha256 {sha}): the {function} sign-off is declared by {person} but not "
        f"signed; {person} runs `cxgov charter sign {CHARTER} --function {function} --as {person}`"
        for function, person in (("legal", "dana"), ("finance", "farid"), ("support", "ana"))
    ]

    sign(tmp_path, CHARTER, "legal", "finance")
    under = worker(tmp_path, CHARTER)
    assert under.code == 2, under
    assert len(under.err.splitlines()) == 1
    assert "the support sign-off is declared by ana but not signed" in under.err

    sign(tmp_path, CHARTER, "support")
    assert passed_the_charter_check(worker(tmp_path, CHARTER))


def test_a_signature_counts_only_for_the_exact_file(tmp_path: Path) -> None:
    sign(tmp_path, CHARTER, "legal", "finance", "support")
    edited = tmp_path / "edited.yaml"
    edited.write_text(CHARTER.read_text() + "\n# one comment more\n")  # same model, different file
    done = worker(tmp_path, edited)
    assert done.code == 2, done
    assert len(done.err.splitlines()) == 3, "every declared sign-off must be signed again"


def test_a_downgraded_or_reused_version_is_refused_and_the_same_file_restarts(tmp_path: Path) -> None:
    v4 = write_charter(tmp_path, ("max_amount: 200 ", "max_amount: 150 "), name="v4.yaml")
    sign(tmp_path, CHARTER, "legal", "finance", "support")
    sign(tmp_path, v4, "legal", "finance", "support")
    record_load(tmp_path, v4)

    downgraded = worker(tmp_path, CHARTER)
    assert downgraded.code == 2, downgraded
    assert "charter acme-retail v3" in downgraded.err
    assert "a later version, v4, was already loaded with other content" in downgraded.err
    assert "versions only increase: give this file version 5 or more" in downgraded.err

    same_version = write_charter(tmp_path, ("max_amount: 200 ", "max_amount: 175 "), name="v4b.yaml")
    sign(tmp_path, same_version, "legal", "finance", "support")
    reused = worker(tmp_path, same_version)
    assert reused.code == 2, reused
    assert "v4" in reused.err and "the same version was already loaded with other content" in reused.err

    assert passed_the_charter_check(worker(tmp_path, v4)), "the same file again is a restart"


def test_the_embedded_stack_signs_declared_signoffs_itself_and_says_so(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", charter_path=CHARTER)
    said: list[str] = []
    admit = admit_charter(settings, read_charter(CHARTER), embedded=True, say=said.append)
    assert said == [
        "charter sign-offs    signed now by the embedded operator for legal (dana), finance (farid), support (ana); "
        "a production worker (`cxgov worker`) needs each person's own `cxgov charter sign`"
    ]
    admit(read_charter(CHARTER))
    registry = CharterRegistry(settings.audit_url)
    try:
        signatures = registry.signatures(read_charter(CHARTER).sha256)
        history = registry.history()
    finally:
        registry.close()
    assert {(s.function, s.person, s.via) for s in signatures} == {
        ("legal", "dana", EMBEDDED_SIGNER),
        ("finance", "farid", EMBEDDED_SIGNER),
        ("support", "ana", EMBEDDED_SIGNER),
    }
    assert [(entry.version, entry.loads) for entry in history] == [(3, 1)]
    assert all(signoff["signed_via"] == EMBEDDED_SIGNER for signoff in history[0].signoffs)

    said.clear()
    admit_charter(settings, read_charter(CHARTER), embedded=True, say=said.append)
    assert said == [], "nothing left to sign: it says nothing"


def test_a_worker_refuses_an_unsigned_file_swapped_in_while_it_runs(tmp_path: Path) -> None:
    live = tmp_path / "charter.yaml"
    live.write_text(CHARTER.read_text())
    sign(tmp_path, live, "legal", "finance", "support")
    settings = Settings(home=tmp_path / "home", charter_path=live)
    admit = admit_charter(settings, read_charter(live), embedded=False, say=lambda line: None)
    cache = CharterCache(live, admit=admit)
    assert cache.get().version == 3

    newer = write_charter(tmp_path, ("max_amount: 200 ", "max_amount: 150 "), name="newer.yaml")
    live.write_text(newer.read_text())
    with pytest.raises(CharterError, match="the legal sign-off is declared by dana but not signed"):
        cache.get()  # deny by default: decisions fail closed (0-charter-unavailable) until it is signed
    sign(tmp_path, live, "legal", "finance", "support")
    deadline = time.monotonic() + RECHECK_REFUSED + 5
    while True:
        try:
            assert cache.get().version == 4
            break
        except CharterError:
            assert time.monotonic() < deadline, "a signed file is taken up without a restart"
            time.sleep(0.2)
    registry = CharterRegistry(settings.audit_url)
    try:
        assert [entry.version for entry in registry.history()] == [3, 4], "the reload is recorded too"
    finally:
        registry.close()


def test_history_and_diff_say_what_changed_in_words(tmp_path: Path) -> None:
    v4 = write_charter(
        tmp_path,
        ("max_amount: 200 ", "max_amount: 150 "),
        ("ben:   {roles: [support-lead], approve_limit: 300}", "ben:   {roles: [support-lead], approve_limit: 400}"),
        ("step_timeout: 4h", "step_timeout: 2h"),
        ("  - role: tier1\n    action: cancel_order\n", ""),
        name="v4.yaml",
    )
    record_load(tmp_path, CHARTER)
    record_load(tmp_path, v4)
    env = child_env({"CXGOV_HOME": str(tmp_path / "home"), "CXGOV_CHARTER": str(CHARTER)})

    history = run_subprocess("charter", "history", "--json", env=env)
    assert history.code == 0, history
    versions = json.loads(history.out)["versions"]
    assert [(v["version"], v["sha256"], v["loads"]) for v in versions] == [
        (3, read_charter(CHARTER).sha256, 1),
        (4, read_charter(v4).sha256, 1),
    ]
    assert versions[0]["workers"] == ["host/1/queue"]
    assert [(s["function"], s["by"], s["signed_via"]) for s in versions[0]["signoffs"]] == [
        ("legal", "dana", None),
        ("finance", "farid", None),
        ("support", "ana", None),
    ]
    text = run_subprocess("charter", "history", env=env)
    assert "v3  sha256 " + read_charter(CHARTER).sha256[:12] in text.out
    assert "legal: dana on 2026-11-20, NOT signed" in text.out

    diff = run_subprocess("charter", "diff", "3", "v4", env=env)
    assert diff.code == 0, diff
    assert diff.out.splitlines()[1:] == [
        "charter:",
        "  charter: version 3 -> 4",
        "grants:",
        "  actor support-bot refund: max_amount 200 -> 150",
        "  role tier1 cancel_order: removed (was: no limits)",
        "ladders:",
        "  refund: step_timeout 4h -> 2h",
        "people:",
        "  ben: approve_limit 300 -> 400",
    ]
    candidate = write_charter(tmp_path, ("max_amount: 200 ", "max_amount: 100 "), name="candidate.yaml")
    against_file = run_subprocess("charter", "diff", "4", str(candidate), "--json", env=env)
    changes = json.loads(against_file.out)["changes"]
    assert {"area": "grants", "subject": "actor support-bot refund", "text": "max_amount 150 -> 100"} in changes
    unknown = run_subprocess("charter", "diff", "3", "9", env=env)
    assert (unknown.code, unknown.err.strip()) == (2, "cxgov: no worker loaded charter version 9 (loaded: v3, v4)")
