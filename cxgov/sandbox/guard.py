"""The sandbox's test tools act on the built-in sandbox only, never on a system of record of one's own.

`cxgov sandbox fault` arms failures, `cxgov sandbox load` replaces the whole world, and the guided tour
(`cxgov demo`, `cxgov up --tour`) resets the world and takes refunds and bookings. Against the built-in sandbox
that is the point; routed by a systems file (`CXGOV_SYSTEMS`) to a shop, a CRM or any other system, it would be
harm. So they run only where the built-in sandbox is the system of record of every action: with no systems file,
or with one that binds every action to `cxgov.sandbox.system:open_system`. Anything else is refused (exit 3)
before anything is opened, seeded or changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cxgov.connectors.config import BUILT_IN_FACTORY, SystemsFile
from cxgov.errors import BadRequest, Denied, SystemsError
from cxgov.settings import Settings
from cxgov.yamlsource import YamlSource, expand_env, load_yaml

SANDBOX_ONLY_RULE = "sandbox-only"


def tool_sandbox(settings: Settings, *, tool: str) -> Path:
    """The sandbox file the test tool `cxgov <tool>` may act on.

    Raises:
        Denied: The systems file routes an action to a system that is not the built-in sandbox.
        SystemsError: The systems file does not load; the message names file, line and key.
        BadRequest: The systems file binds built-in sandboxes in several files: which one is meant is unclear.
    """
    path = settings.systems_path
    if path is None:
        return settings.sandbox_path
    source = load_yaml(path, SystemsError)
    foreign = _foreign_routes(source)
    if foreign:
        routes = "; ".join(f"{', '.join(actions)} -> {system}" for system, actions in foreign.items())
        raise Denied(
            f"`cxgov {tool}` is a test tool for the built-in sandbox, and CXGOV_SYSTEMS={path} routes {routes}: "
            "refused, nothing was changed",
            rule=SANDBOX_ONLY_RULE,
        )
    config = _validated(source)
    files = {
        _sandbox_file(config.systems[name].options, base=path.parent, home=settings.home)
        for name in dict.fromkeys(config.actions.values())
    }
    if len(files) > 1:
        shown = ", ".join(sorted(str(file) for file in files))
        raise BadRequest(
            f"CXGOV_SYSTEMS={path} binds the sandbox in several files ({shown}): `cxgov {tool}` cannot tell which",
            field="systems",
        )
    return files.pop() if files else settings.sandbox_path


def _foreign_routes(source: YamlSource) -> dict[str, list[str]]:
    """`system (kind)` -> the actions bound to it, for every bound system that is not the built-in sandbox.

    Read from the file as written, before `${ENV}` references are expanded: deciding that a shop is not the
    sandbox needs none of its secrets. A file whose shape is wrong is reported as the worker would report it.
    """
    data = source.data
    systems = data.get("systems") if isinstance(data, dict) else None
    actions = data.get("actions", {}) if isinstance(data, dict) else None
    if not isinstance(systems, dict) or not isinstance(actions, dict):
        _validated(source)
        raise SystemsError("the systems file must be a mapping with `systems` and `actions`", path=source.path)
    foreign: dict[str, list[str]] = {}
    for action, name in actions.items():
        entry = systems.get(name)
        if not isinstance(entry, dict):
            _validated(source)  # raises: an action bound to a system that is not declared
            continue
        kind = _kind(entry)
        if kind is not None:
            foreign.setdefault(f"{name} ({kind})", []).append(str(action))
    return foreign


def _kind(entry: Mapping[str, Any]) -> str | None:
    """What a system entry is, or None for the built-in sandbox."""
    if "http" in entry:
        return "http"
    if "entry_point" in entry:
        return f"entry point {entry['entry_point']}"
    if entry.get("python") == BUILT_IN_FACTORY:
        return None
    return f"python {entry.get('python')}"


def _validated(source: YamlSource) -> SystemsFile:
    source.data = expand_env(source, source.data, (), SystemsError)
    return source.validate(SystemsFile, SystemsError)


def _sandbox_file(options: Mapping[str, Any], *, base: Path, home: Path) -> Path:
    """Where `cxgov.sandbox.system.open_system` keeps a sandbox bound with `options`."""
    given = options.get("path")
    if given is None:
        return home / "sandbox.db"
    path = Path(str(given))
    return path if path.is_absolute() else base / path
