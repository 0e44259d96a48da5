"""The systems file (`CXGOV_SYSTEMS`): which system of record serves each charter action.

```yaml
systems:
  shop:                                   # a system that speaks HTTP: the declarative HTTP connector
    http: {url: "${SHOP_URL}", sandbox_url: "${SHOP_SANDBOX_URL}", actions: {...}}
  loyalty:                                # Python code of your own: a factory returning a SystemOfRecord
    python: mycompany.loyalty:open_system
    options: {path: loyalty.db}
  crm:                                    # the same, found through the `cxgov.systems` entry point group
    entry_point: crm
actions:                                  # every charter action, and nothing else
  refund: shop
  grant_points: loyalty
```

`${NAME}` anywhere in the file is replaced by the environment variable NAME when the file loads (secrets
stay out of the file); a variable that is not set is an error naming it, unless a default is given:
`${NAME:-default}`. Relative paths in `options` are
the factory's to resolve: `SystemContext.base_dir` is the systems file's directory.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cxgov.charter.models import Name
from cxgov.connectors.binding import Systems
from cxgov.connectors.http_config import HttpSystemConfig, literal_secrets
from cxgov.connectors.protocol import SystemOfRecord
from cxgov.errors import CxgovError, SystemsError
from cxgov.yamlsource import Loc, YamlSource, expand_env, load_yaml

ENTRY_POINT_GROUP = "cxgov.systems"
HTTP_FACTORY = "cxgov.connectors.http:open_system"
BUILT_IN_FACTORY = "cxgov.sandbox.system:open_system"
"""The embedded default: with no systems file, every charter action is served by the built-in sandbox."""


@dataclass(frozen=True)
class SystemContext:
    """What a system factory is given: its name, its options, and where relative paths start."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path.cwd)
    """The systems file's directory (the working directory for the built-in default)."""
    home: Path = field(default_factory=lambda: Path(".cxgov"))
    """cxgov's local state directory (CXGOV_HOME)."""


SystemFactory = Callable[[SystemContext], SystemOfRecord]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SystemEntry(_Strict):
    """One system of record: exactly one of `http`, `python` or `entry_point`."""

    http: HttpSystemConfig | None = None
    python: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    """`package.module:factory`, a callable taking a `SystemContext` and returning a `SystemOfRecord`; the
    module is imported from the Python path, or else from the systems file's directory."""
    entry_point: Name | None = None
    """The name of a factory in the `cxgov.systems` entry point group of an installed package."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Passed to a Python factory as `SystemContext.options`."""

    @model_validator(mode="after")
    def _one_kind(self) -> SystemEntry:
        kinds = [kind for kind in ("http", "python", "entry_point") if getattr(self, kind) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"a system is exactly one of http, python or entry_point, found {', '.join(kinds) or 'none'}"
            )
        if self.http is not None and self.options:
            raise ValueError("`options` go with python or entry_point; an http system is configured under `http`")
        return self


class SystemsFile(_Strict):
    systems: dict[Name, SystemEntry] = Field(min_length=1)
    actions: dict[Name, Name] = Field(default_factory=dict)
    """Charter action -> the name of the system serving it."""

    @model_validator(mode="after")
    def _known_systems(self) -> SystemsFile:
        for action, system in self.actions.items():
            if system not in self.systems:
                raise ValueError(f"action {action} is bound to {system!r}, which is not under `systems`")
        return self


def load_systems(path: Path, *, home: Path) -> Systems:
    """Load the systems file at `path` and open every system it binds.

    Raises:
        SystemsError: The file does not load, names an unset environment variable, or a factory fails;
            the message names the file, the line and the key.
    """
    source = load_yaml(path, SystemsError)
    if not isinstance(source.data, dict):
        raise source.error(SystemsError, (), "the systems file must be a mapping with `systems` and `actions`")
    for loc in literal_secrets(source.data):
        raise source.error(SystemsError, loc, "a secret is written into the file; reference it as ${ENV_VARIABLE}")
    source.data = expand_env(source, source.data, (), SystemsError)
    config = source.validate(SystemsFile, SystemsError)
    opened: dict[str, SystemOfRecord] = {}
    try:
        for name in dict.fromkeys(config.actions.values()):
            entry = config.systems[name]
            context = SystemContext(name=name, options=entry.options, base_dir=path.parent, home=home)
            if entry.http is not None:
                context = SystemContext(name=name, options={"config": entry.http}, base_dir=path.parent, home=home)
            opened[name] = _open(source, ("systems", name), entry, context)
    except BaseException:
        for system in opened.values():
            system.close()
        raise
    return Systems({action: opened[name] for action, name in config.actions.items()})


def default_systems(*, actions: list[str], home: Path, options: Mapping[str, Any]) -> Systems:
    """No systems file: the built-in sandbox serves every charter action, as the embedded stack always has."""
    factory = _import(BUILT_IN_FACTORY)
    system = factory(SystemContext(name="sandbox", options=options, home=home))
    return Systems.serving(system, actions)


def _open(source: YamlSource, loc: Loc, entry: SystemEntry, context: SystemContext) -> SystemOfRecord:
    try:
        if entry.http is not None:
            factory = _import(HTTP_FACTORY)
        elif entry.python is not None:
            _beside(context.base_dir)
            factory = _import(entry.python)
        else:
            factory = _entry_point(str(entry.entry_point))
        system = factory(context)
    except SystemsError:
        raise
    except CxgovError as err:
        raise source.error(SystemsError, loc, str(err)) from None
    except (ImportError, AttributeError) as err:
        raise source.error(SystemsError, loc, f"cannot load the system's factory: {err}") from None
    except Exception as err:  # a user's factory failed: one line, naming the system
        raise source.error(SystemsError, loc, f"the factory failed: {type(err).__name__}: {err}") from None
    if not isinstance(system, SystemOfRecord):
        raise source.error(SystemsError, loc, f"the factory returned {type(system).__name__}, not a SystemOfRecord")
    return system


def _beside(directory: Path) -> None:
    """A factory module may sit next to the systems file: that directory is searched last."""
    if str(directory) not in sys.path:
        sys.path.append(str(directory))


def _import(target: str) -> SystemFactory:
    module_name, _, attribute = target.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    if not callable(factory):
        raise AttributeError(f"{target} is not callable")
    return factory  # type: ignore[no-any-return]


def _entry_point(name: str) -> SystemFactory:
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    for point in found:
        return point.load()  # type: ignore[no-any-return]
    raise ImportError(f"no installed package offers {name!r} in the {ENTRY_POINT_GROUP} entry point group")
