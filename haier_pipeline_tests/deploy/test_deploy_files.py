"""The container deployment's files, checked without containers (this machine runs none): the Dockerfile installs the
lock, the compose file wires the services, the Docker instance loads with its launcher and passes every variable a
run needs, the Helm values select the K8s launcher and the limits of deploy/dagster.yaml, and every HAIER_* name in
them is one the pipeline reads (a typo would be silently ignored: the variable would just never arrive)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from haier_pipeline.config_files import ACCOUNT_SECRETS, read_accounts_file
from haier_pipeline.defs.outcomes import ACCOUNT_TAG
from haier_pipeline.settings import Settings
from haier_pipeline_tests.deploy.processes import DEPLOY, DEPLOY_YAML, PROJECT, DeployedInstance, deployed_instance

DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yaml"
DOCKER_YAML = DEPLOY / "dagster.docker.yaml"
HELM_VALUES = DEPLOY / "helm" / "values.yaml"
HELM_CONFIG = DEPLOY / "helm" / "haier-config.yaml"
EXAMPLE_ACCOUNTS = DEPLOY / "accounts.example.toml"
SERVICES = {"postgres", "code-server", "webserver", "daemon"}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def compose() -> dict[str, Any]:
    return load(COMPOSE)


def manifests() -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(HELM_CONFIG.read_text()) if document]


def manifest(name: str) -> dict[str, Any]:
    (found,) = [document for document in manifests() if document["metadata"]["name"] == name]
    return found


def example_accounts() -> list[str]:
    written = read_accounts_file(EXAMPLE_ACCOUNTS)
    assert not written.problems, written.problems
    return list(written.accounts)


def is_pipeline_variable(name: str, accounts: list[str]) -> bool:
    """HAIER_<SETTING>, or HAIER_<ACCOUNT>_<SECRET> for an account of the example accounts file."""
    rest = name.removeprefix("HAIER_")
    if rest.lower() in Settings.model_fields:
        return True
    return any(
        rest.startswith(f"{account.upper()}_") and rest[len(account) + 1 :].lower() in ACCOUNT_SECRETS
        for account in accounts
    )


def account_secrets(accounts: list[str]) -> set[str]:
    return {f"HAIER_{account.upper()}_{secret.upper()}" for account in accounts for secret in ACCOUNT_SECRETS}


# ---- the image ------------------------------------------------------------------------------------------------


def test_the_dockerfile_installs_the_lock_with_the_makefiles_uv_as_a_non_root_code_server() -> None:
    text = DOCKERFILE.read_text()
    instructions = [line for line in text.splitlines() if line and not line.startswith("#")]
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base.group(1)), "a pinned patch release of 3.11"
    assert "FROM ${PYTHON_IMAGE}" in instructions
    makefile_uv = re.search(r"^UV_VERSION := (\S+)$", (PROJECT / "Makefile").read_text(), re.MULTILINE)
    assert makefile_uv and f"ARG UV_VERSION={makefile_uv.group(1)}" in instructions
    # Every dependency at the lock's version (the lock is the constraint), the run launchers included.
    assert re.search(
        r"uv pip install .*--constraint requirements\.lock\s*\\\n\s*-r pyproject\.toml --extra deploy", text
    )
    assert "COPY requirements.lock pyproject.toml README.md ./" in instructions
    # ... and the lock holds them: it was compiled with the deploy extra.
    lock = (PROJECT / "requirements.lock").read_text()
    assert "--extra deploy" in lock.splitlines()[1]
    assert re.search(r"^dagster-docker==0\.29\.27$", lock, re.MULTILINE)
    assert re.search(r"^dagster-k8s==0\.29\.27$", lock, re.MULTILINE)
    # Editable, beside pyproject.toml: load_from_defs_folder finds the project through it.
    assert "RUN uv pip install --python /opt/venv/bin/python --no-deps -e ." in instructions
    assert "COPY deploy/dagster.docker.yaml ${DAGSTER_HOME}/dagster.yaml" in instructions
    assert re.search(r"DAGSTER_HOME=/opt/dagster/dagster_home", text)
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    command = re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)
    assert command and yaml.safe_load(command.group(1))[:3] == ["dagster", "code-server", "start"]
    assert "haier_pipeline.definitions" in command.group(1)


def test_the_build_context_leaves_secrets_and_local_state_out() -> None:
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :][0] == "*", "everything is left out but what is named"
    allowed = {line.removeprefix("!") for line in ignored if line.startswith("!")}
    copied = {
        source
        for line in DOCKERFILE.read_text().splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    }
    assert copied <= allowed | {source.rstrip("/") for source in allowed}, copied - allowed
    assert not [path for path in allowed if ".env" in path or ".venv" in path or path.startswith("data")]


# ---- docker compose ---------------------------------------------------------------------------------------------


def test_compose_runs_the_services_on_one_image_with_the_docker_launcher() -> None:
    services = compose()["services"]
    assert set(services) == SERVICES
    code = services["code-server"]
    assert code["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    image = code["image"]
    assert {services[name]["image"] for name in ("webserver", "daemon")} == {image}
    # Runs start from the code server's image, which it announces.
    assert code["environment"]["DAGSTER_CURRENT_IMAGE"] == image
    assert services["webserver"]["command"][0] == "dagster-webserver"
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in services["daemon"]["volumes"]
    for name in ("webserver", "daemon"):
        assert services[name]["depends_on"]["code-server"] == {"condition": "service_healthy"}
    assert code["healthcheck"]["test"][1:4] == ["dagster", "api", "grpc-health-check"]
    assert services["postgres"]["image"].startswith("postgres:15.")
    # The workspace the webserver and daemon load is the image's copy of deploy/workspace.yaml.
    for name in ("webserver", "daemon"):
        assert "deploy/workspace.yaml" in services[name]["command"]


def test_compose_and_the_docker_instance_agree_on_network_volumes_and_variables() -> None:
    spec = compose()
    launcher = load(DOCKER_YAML)["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    config = launcher["config"]
    assert spec["networks"]["dagster_network"]["name"] == config["network"]
    mounts = config["container_kwargs"]["volumes"]
    assert f"{spec['volumes']['dagster_shared']['name']}:/mnt/dagster" in mounts
    code = spec["services"]["code-server"]
    # The accounts folder: mounted where HAIER_ACCOUNTS_FILE points, in the code server and in every run container.
    accounts_file = Path(code["environment"]["HAIER_ACCOUNTS_FILE"])
    folder = f"{accounts_file.parent}:{accounts_file.parent}:ro"
    assert folder in code["volumes"] and folder in mounts
    # The daemon hands each run exactly the variables the code server has (but the image's own).
    code_env = set(code["environment"]) - {
        "DAGSTER_CURRENT_IMAGE",
        "DAGSTER_CODE_SERVER_HOST",
        "DAGSTER_CODE_SERVER_PORT",
    }
    assert set(config["env_vars"]) == code_env
    assert set(config["env_vars"]) <= set(spec["services"]["daemon"]["environment"]), "each must be set in the daemon"
    # The webserver runs no pipeline code: no secrets there.
    assert not [name for name in spec["services"]["webserver"]["environment"] if name.startswith("HAIER_")]


def test_every_value_compose_requires_is_in_the_env_example() -> None:
    """Compose fills `${NAME}` from deploy/.env: a name without a default (`${NAME}`, `${NAME:?...}`) must be one
    .env.example lists, or `up` stops (or passes an empty value) on a fresh checkout."""
    text = COMPOSE.read_text().replace("$$", "")
    without_default = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)(?:\}|:\?)", text))
    listed = set(re.findall(r"^#? ?([A-Z_][A-Z0-9_]*)=", (DEPLOY / ".env.example").read_text(), re.MULTILINE))
    assert without_default, "the password at least has no default"
    assert without_default <= listed, without_default - listed
    every = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    assert listed <= every, f"listed but never used: {listed - every}"


def test_the_docker_instance_is_the_deploy_instance_but_for_its_launcher() -> None:
    docker, reference = load(DOCKER_YAML), load(DEPLOY_YAML)
    assert docker.pop("run_launcher") != reference.pop("run_launcher")
    assert docker == reference


@pytest.fixture(scope="module")
def docker_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployedInstance]:
    with deployed_instance(tmp_path_factory, DOCKER_YAML) as instance, pytest.MonkeyPatch.context() as patch:
        for name, value in instance.env.items():
            patch.setenv(name, value)
        yield instance


def test_the_docker_instance_loads_with_its_launcher(docker_instance: DeployedInstance) -> None:
    """Dagster validates the launcher's config against dagster-docker's schema (installed from the lock)."""
    from dagster_docker import DockerRunLauncher

    with docker_instance.load() as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, DockerRunLauncher)
        assert launcher.networks == ["dagster_network"]
        assert "HAIER_WAREHOUSE_URL" in launcher.env_vars
        assert "/etc/haier-pipeline:/etc/haier-pipeline:ro" in launcher.container_kwargs["volumes"]


# ---- Helm ---------------------------------------------------------------------------------------------------------


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def test_the_helm_values_launch_runs_as_kubernetes_jobs_of_the_pipelines_image() -> None:
    values = load(HELM_VALUES)
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    deployments = values["dagster-user-deployments"]
    assert deployments["enabled"] is True
    (code,) = deployments["deployments"]
    assert code["codeServerArgs"] == ["-m", "haier_pipeline.definitions"]
    image = code["image"]
    assert image["tag"] != "latest"
    # One image everywhere, as in compose.
    assert values["dagsterWebserver"]["image"] == values["dagsterDaemon"]["image"] == image
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"


def test_the_helm_values_carry_the_limits_of_the_deploy_instance() -> None:
    """The chart renders `concurrency` into dagster.yaml with its keys in snake case: the same limits as
    deploy/dagster.yaml, the run limit per account included."""
    values, reference = load(HELM_VALUES), load(DEPLOY_YAML)
    concurrency = values["concurrency"]
    assert concurrency["enabled"] is True
    rendered = {
        "pools": {snake(key): value for key, value in concurrency["pools"].items()},
        "runs": {snake(key): value for key, value in concurrency["runs"].items()},
    }
    assert rendered == reference["concurrency"]
    assert rendered["runs"]["tag_concurrency_limits"][0]["key"] == ACCOUNT_TAG
    # Dagster refuses run limits in both places; the chart writes some into the run coordinator whenever any of its
    # queued-run-coordinator values is set (dagster-io/dagster#33225): all must be empty.
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert not [key for key, value in queued.items() if value], queued
    monitoring = {snake(key): value for key, value in values["dagsterDaemon"]["runMonitoring"].items()}
    assert monitoring == reference["run_monitoring"]
    assert values["pythonLogs"]["managedPythonLoggers"] == reference["python_logs"]["managed_python_loggers"]
    assert values["additionalInstanceConfig"]["freshness"] == reference["freshness"]
    assert values["telemetry"] == reference["telemetry"]


def test_the_helm_values_name_the_config_maps_and_secrets_that_haier_config_creates() -> None:
    values = load(HELM_VALUES)
    created = {(document["kind"], document["metadata"]["name"]) for document in manifests()}
    (code,) = values["dagster-user-deployments"]["deployments"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    for holder in (code, launcher):
        assert {("ConfigMap", source["name"]) for source in holder["envConfigMaps"]} <= created
        assert {("Secret", source["name"]) for source in holder["envSecrets"]} <= created
        assert {("ConfigMap", volume["configMap"]["name"]) for volume in holder["volumes"]} <= created
    assert ("Secret", values["global"]["postgresqlSecretName"]) in created
    # The accounts file is mounted where HAIER_ACCOUNTS_FILE points.
    env = manifest("haier-pipeline-env")["data"]
    accounts = Path(env["HAIER_ACCOUNTS_FILE"])
    for holder in (code, launcher):
        assert [mount["mountPath"] for mount in holder["volumeMounts"]] == [str(accounts.parent)]
    assert set(manifest("haier-pipeline-accounts")["data"]) == {accounts.name}


def test_the_helm_accounts_file_reads_as_the_example(tmp_path: Path) -> None:
    (path := tmp_path / "accounts.toml").write_text(manifest("haier-pipeline-accounts")["data"]["accounts.toml"])
    written = read_accounts_file(path)
    assert not written.problems, written.problems
    assert list(written.accounts) == example_accounts()


# ---- the HAIER_* names ------------------------------------------------------------------------------------------


def haier_names() -> dict[str, set[str]]:
    """Every HAIER_* name each deploy file sets or passes on."""
    spec = compose()
    found = {
        f"compose {service}": {name for name in body.get("environment") or {} if name.startswith("HAIER_")}
        for service, body in spec["services"].items()
    }
    found["dagster.docker.yaml env_vars"] = {
        name for name in load(DOCKER_YAML)["run_launcher"]["config"]["env_vars"] if name.startswith("HAIER_")
    }
    for document in manifests():
        keys = {**(document.get("data") or {}), **(document.get("stringData") or {})}
        found[f"haier-config.yaml {document['metadata']['name']}"] = {
            name for name in keys if name.startswith("HAIER_")
        }
    found[".env.example"] = set(re.findall(r"^#? ?(HAIER_[A-Z_]+)=", (DEPLOY / ".env.example").read_text(), re.M))
    return found


def test_every_haier_variable_in_the_deploy_files_is_one_the_pipeline_reads() -> None:
    accounts = example_accounts()
    unknown = {
        where: sorted(name for name in names if not is_pipeline_variable(name, accounts))
        for where, names in haier_names().items()
    }
    assert not {where: names for where, names in unknown.items() if names}, unknown


def test_every_accounts_secret_reaches_the_code_server_and_its_runs() -> None:
    secrets = account_secrets(example_accounts())
    names = haier_names()
    assert secrets <= names["compose code-server"]
    assert secrets <= names["dagster.docker.yaml env_vars"]


def test_a_misspelt_variable_is_caught() -> None:
    """The check above can fail: a typo, an unknown account, a secret the file may not hold."""
    accounts = example_accounts()
    assert is_pipeline_variable("HAIER_WAREHOUSE_URL", accounts)
    assert is_pipeline_variable("HAIER_NORTH_CLIENT_SECRET", accounts)
    assert not is_pipeline_variable("HAIER_WAREHOUSE_URI", accounts)
    assert not is_pipeline_variable("HAIER_EAST_CLIENT_SECRET", accounts)
    assert not is_pipeline_variable("HAIER_NORTH_CUSTOMER_CODE", accounts)
