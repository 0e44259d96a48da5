"""The guided tour works where it is meant to: `cxgov up --tour` and `cxgov demo` on the embedded stack, whose
built-in sandbox is the system of record (tests/sandbox/test_sandbox_test_tools.py: elsewhere they refuse)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from harness import CHARTER

CXGOV = Path(sys.executable).parent / "cxgov"
TOUR_WITHIN = 240.0
"""`cxgov up` starts every drill; the tour waits up to 120 s for them to pass, then walks six stops."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    return port if port < 64000 else free_port()  # the UI binds port + 1000


def test_up_with_the_tour_and_demo_walk_every_stop_on_the_sandbox(tmp_path: Path) -> None:
    port, http_port = free_port(), free_port()
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("CXGOV_")},
        "CXGOV_HOME": str(tmp_path / "home"),
        "CXGOV_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "CXGOV_CHARTER": str(CHARTER),
        "CXGOV_HTTP_ADDRESS": f"127.0.0.1:{http_port}",
    }
    log_path = tmp_path / "up.log"
    log = log_path.open("w")
    up = subprocess.Popen(
        [str(CXGOV), "up", "--tour"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + TOUR_WITHIN
        text = ""
        while "tour finished" not in text:
            assert up.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, text
            time.sleep(0.5)
            text = log_path.read_text()
        assert "tour finished: 6/6 stops as expected" in text, text
        assert "== cxgov tour (the sandbox world was reset to sandbox.yaml) ==" in text

        # `cxgov demo` against the same running stack: the drills have passed, so it walks straight through.
        demo = subprocess.run(
            [str(CXGOV), "demo"], env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "every reversible action's undo has passed a drill" in demo.stdout
        assert "!! expected" not in demo.stdout
        assert demo.stdout.count("\n   -> ") >= 6, demo.stdout
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=30)
        log.close()
    assert code == 0, log_path.read_text()
