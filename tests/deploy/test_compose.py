"""docker-compose.yml and the Dockerfile, checked against the code (Docker does not run on these machines).

The compose file must start what cxgov needs: every service runnable, the worker running a real `cxgov`
command with settings cxgov reads, pointed at the Temporal service's port, and the search attributes the
action workflows upsert registered exactly as cxgov declares them.
"""

from __future__ import annotations

import json
import re
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


def test_worker_audit_database_is_the_compose_postgresql(services: dict[str, dict[str, Any]]) -> None:
    url = environment(services[WORKER])["CXGOV_DATABASE_URL"]
    match = re.fullmatch(
        r"postgresql(\+psycopg)?://(?P<user>[^:]+):[^@]+@(?P<host>[^:/]+):(?P<port>\d+)/(?P<db>\w+)", url
    )
    assert match, url
    postgres = services[match["host"]]
    assert postgres["image"].startswith("postgres:")
    assert int(match["port"]) in container_ports(postgres)
    assert match["db"] == environment(postgres)["POSTGRES_DB"]
    assert match["user"] == environment(postgres)["POSTGRES_USER"]


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
    assert instructions[0] == ("FROM", "python:3.11-slim")
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
    assert host == "0.0.0.0" and f"{port}:{port}" in api["ports"]
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
