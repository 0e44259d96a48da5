"""The factory that binds the built-in sandbox like any other system (`python: cxgov.sandbox.system:open_system`).

Options (all optional):
    path: the SQLite file (default `CXGOV_HOME/sandbox.db`; relative paths from the systems file's directory).
    seed: the seed file loaded when the sandbox is empty (format: `examples/sandbox.yaml`).
    reseed: load `seed` even when the sandbox holds a world (`cxgov up --sandbox FILE`).
"""

from __future__ import annotations

from pathlib import Path

from cxgov.connectors.config import SystemContext
from cxgov.sandbox.store import Sandbox


def open_system(context: SystemContext) -> Sandbox:
    """Open the sandbox file, seeding it when empty (or when asked to reseed)."""
    options = context.options
    path = _path(context, options.get("path")) or context.home / "sandbox.db"
    seed = _path(context, options.get("seed"))
    sandbox = Sandbox(path)
    try:
        loaded = None
        if seed is not None:
            loaded = sandbox.load_world(seed=seed) if options.get("reseed") else sandbox.seed_when_empty(seed=seed)
        sandbox.seeded = loaded.summary() if loaded is not None else "kept its world (pass --sandbox FILE to reseed)"
    except BaseException:
        sandbox.close()
        raise
    return sandbox


def _path(context: SystemContext, value: object) -> Path | None:
    if value is None:
        return None
    path = Path(str(value))
    return path if path.is_absolute() else context.base_dir / path
