"""Workers sharing one sandbox file (`docker compose up --scale cxgov-worker=3`, one CXGOV_HOME volume) seed it
exactly once, and a worker starting later never wipes what the others did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness import SEED

from cxgov.connectors.config import SystemContext
from cxgov.errors import SeedError
from cxgov.sandbox import Sandbox
from cxgov.sandbox.system import open_system

REPLICAS = 4
START = """
import json, sys, time
from pathlib import Path
from cxgov.connectors.config import SystemContext
from cxgov.sandbox.system import open_system

home, seed, go = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
system = open_system(SystemContext(name="sandbox", options={"seed": seed}, home=home))
print(json.dumps({"seeded": system.seeded}), flush=True)
system.close()
"""


def start_replicas(home: Path, go: Path) -> list[subprocess.Popen[str]]:
    """Worker-like processes opening the sandbox under `home` the way `cxgov worker` does, once `go` exists."""
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", START, str(home), str(SEED), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        for _ in range(REPLICAS)
    ]
    for replica in replicas:  # every one has imported everything and waits at the line
        assert replica.stdout is not None and replica.stdout.readline().strip() == "ready"
    return replicas


def test_replicas_starting_together_seed_the_shared_file_exactly_once(tmp_path: Path) -> None:
    go = tmp_path / "go"
    replicas = start_replicas(tmp_path, go)
    try:
        go.touch()
        said = []
        for replica in replicas:
            out, err = replica.communicate(timeout=60)
            assert replica.returncode == 0, err
            said.append(json.loads(out)["seeded"])
    finally:
        for replica in replicas:
            if replica.poll() is None:
                replica.kill()
                replica.wait()

    loaded = [line for line in said if line.startswith("sandbox loaded from")]
    assert len(loaded) == 1, said
    assert said.count("kept its world (pass --sandbox FILE to reseed)") == REPLICAS - 1, said
    box = Sandbox(tmp_path / "sandbox.db")
    try:
        assert set(box.world_snapshot()["customers"]) == {"C-100", "C-200", "C-300"}
    finally:
        box.close()


def test_a_replica_starting_late_keeps_what_the_others_did(tmp_path: Path) -> None:
    first = open_system(SystemContext(name="sandbox", options={"seed": SEED}, home=tmp_path))
    try:
        first.dispatch(order="O-1001")
        before = first.world_snapshot()
        late = open_system(SystemContext(name="sandbox", options={"seed": SEED}, home=tmp_path))
        try:
            assert late.seeded == "kept its world (pass --sandbox FILE to reseed)"
            assert late.world_snapshot() == before
            assert before["orders"]["O-1001"]["dispatched"] is True
        finally:
            late.close()
    finally:
        first.close()


def test_seeding_an_empty_sandbox_from_a_broken_file_changes_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("customers:\n  C-1: {name: X}\n")  # no segment
    box = Sandbox(tmp_path / "sandbox.db")
    try:
        with pytest.raises(SeedError, match=r"broken\.yaml:2: customers\.C-1\.segment"):
            box.seed_when_empty(seed=broken)
        assert box.is_empty()
        assert box.seed_when_empty(seed=SEED) is not None
        assert box.seed_when_empty(seed=SEED) is None
    finally:
        box.close()
