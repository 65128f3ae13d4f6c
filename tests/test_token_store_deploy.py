"""deploy/: the shipped configs validate and the Dockerfile, compose file, nginx config and
Kubernetes manifests agree with each other (paths, ports, names, variables, probes).

Building the image and running compose or a cluster need Docker, which the suite does not
have; everything that can be checked without it is checked here.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from keycard_serve._sealing import parse_encryption_key
from keycard_serve.cli import app
from tests.support.reverse_proxy import nginx_binary

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
CONFIG_PATH = "/etc/keycard-serve/config.yaml"
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def configmap_config() -> str:
    return load(DEPLOY / "k8s" / "configmap.yaml")["data"]["config.yaml"]


def pod_spec() -> dict[str, Any]:
    return load(DEPLOY / "k8s" / "deployment.yaml")["spec"]["template"]["spec"]


def dockerfile_instructions() -> dict[str, str]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.split(None, 1) for line in text.splitlines() if line and line[0] != "#"]
    return {parts[0]: parts[1].strip() for parts in lines if len(parts) == 2}


@pytest.mark.parametrize("source", ["compose", "k8s"])
def test_the_shipped_configs_validate(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (DEPLOY / "config.yaml").read_text() if source == "compose" else configmap_config()
    path = tmp_path / "config.yaml"
    path.write_text(text)
    for name in ("KEYCARD_ZONE_ID", "KEYCARD_CLIENT_ID", "KEYCARD_CLIENT_SECRET"):
        monkeypatch.setenv(name, f"dummy-{name.lower().replace('_', '-')}")
    monkeypatch.setenv("KS_CACHE_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.chdir(ROOT)  # the image's working directory holds examples/ the same way
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_every_variable_of_the_configs_is_supplied_by_compose_or_the_secret() -> None:
    compose = load(DEPLOY / "compose.yaml")["services"]["keycard-serve"]["environment"]
    for name, default in VARIABLE.findall((DEPLOY / "config.yaml").read_text()):
        assert default or name in compose, name
    secret = load(DEPLOY / "k8s" / "secret.yaml")
    container = pod_spec()["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    for name, default in VARIABLE.findall(configmap_config()):
        assert default or name in secret["stringData"], name


def test_the_secrets_placeholder_key_is_refused_at_start_up() -> None:
    placeholder = load(DEPLOY / "k8s" / "secret.yaml")["stringData"]["KS_CACHE_KEY"]
    with pytest.raises(ValueError, match="openssl rand -base64 32"):
        parse_encryption_key(placeholder)


def test_the_image_runs_the_mounted_config_as_a_non_root_user_on_the_configs_port() -> None:
    docker = dockerfile_instructions()
    assert docker["FROM"].startswith("python:3.1") and docker["FROM"].endswith("-slim")
    assert docker["ENTRYPOINT"] == '["keycard-serve"]'
    assert docker["CMD"] == f'["run", "{CONFIG_PATH}"]'
    user = docker["USER"].split(":")[0]
    assert user.isdigit() and user != "0"
    port = load(DEPLOY / "config.yaml")["server"]["port"]
    assert (
        docker["EXPOSE"] == str(port) == str(yaml.safe_load(configmap_config())["server"]["port"])
    )
    assert pod_spec()["securityContext"]["runAsUser"] == int(user)


def test_the_deployment_probes_mounts_read_only_and_is_locked_down() -> None:
    spec = pod_spec()
    container = spec["containers"][0]
    assert container["args"] == ["run", CONFIG_PATH]
    assert container["ports"] == [{"name": "http", "containerPort": 8000}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert mount == {"name": "config", "mountPath": str(Path(CONFIG_PATH).parent), "readOnly": True}
    volume = next(v for v in spec["volumes"] if v["name"] == "config")
    configmap = load(DEPLOY / "k8s" / "configmap.yaml")
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    assert Path(CONFIG_PATH).name in configmap["data"]


def test_the_service_and_the_cache_url_reach_what_the_manifests_run() -> None:
    deployment = load(DEPLOY / "k8s" / "deployment.yaml")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = load(DEPLOY / "k8s" / "service.yaml")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    valkey_service = load_all(DEPLOY / "k8s" / "valkey.yaml")[1]
    cache_url = yaml.safe_load(configmap_config())["cache"]["url"]
    assert cache_url.startswith(f"redis://{valkey_service['metadata']['name']}:6379/")
    listed = load(DEPLOY / "k8s" / "kustomization.yaml")["resources"]
    assert sorted(listed) == sorted(
        p.name for p in (DEPLOY / "k8s").glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_compose_runs_two_replicas_with_the_config_read_only_behind_the_proxy() -> None:
    services = load(DEPLOY / "compose.yaml")["services"]
    server = services["keycard-serve"]
    assert server["deploy"]["replicas"] == 2
    assert server["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert f"./config.yaml:{CONFIG_PATH}:ro" in server["volumes"]
    assert server["read_only"] is True
    assert "/readyz" in " ".join(server["healthcheck"]["test"])
    config = load(DEPLOY / "config.yaml")
    assert config["cache"]["url"].startswith("valkey://valkey:6379/")
    assert "valkey" in services
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert f"server keycard-serve:{config['server']['port']};" in nginx
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["proxy"]["volumes"]
    published = services["proxy"]["ports"][0].split(":")
    assert f"listen {published[1]};" in nginx
    assert config["server"]["stateless"] is True  # round-robin: no session kept in a process
    assert config["server"]["workers"] == 2  # processes per replica, one socket each


def test_nginx_accepts_the_proxy_config(tmp_path: Path) -> None:
    # Outside compose the service name does not resolve: point it at loopback for the check.
    text = (DEPLOY / "nginx.conf").read_text().replace("keycard-serve:8000", "127.0.0.1:8000")
    (tmp_path / "nginx.conf").write_text(text)
    result = subprocess.run(
        [nginx_binary(), "-t", "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf"),
         "-e", str(tmp_path / "error.log")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
