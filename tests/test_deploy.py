"""The container and the Kubernetes manifests (Dockerfile, deploy/kubernetes.yaml), read as their tools read them.

No image is built here (the test machines have no Docker engine): the Dockerfile is parsed into its instructions
and checked against the repository, the manifests are parsed as YAML and checked against each other and against
the app: every probe asks the health path on the port the app listens on, the image's command is the README's,
the ingress keeps a browser on one replica and lets Streamlit's largest upload through.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
HEALTH = "/_stcore/health"


def instructions(text: str) -> list[tuple[str, str]]:
    """A Dockerfile's (INSTRUCTION, arguments), continuation lines joined and comments dropped."""
    out, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def exec_form(arguments: str) -> list[str]:
    """The JSON array of a CMD or HEALTHCHECK CMD (the exec form: no shell in between)."""
    return json.loads(arguments)


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions((REPO / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    documents = list(yaml.safe_load_all((REPO / "deploy" / "kubernetes.yaml").read_text()))
    kinds = [document["kind"] for document in documents]
    assert len(set(kinds)) == len(kinds)
    return {document["kind"]: document for document in documents}


def readme_app_command() -> list[str]:
    """The README's command that runs the app, from `streamlit` on."""
    readme = (REPO / "README.md").read_text()
    [line] = {line for line in readme.splitlines() if "streamlit run" in line and "pip install -r requirements.txt" in line}
    command = shlex.split(line.split("&&")[-1])
    return [Path(command[0]).name, *command[1:]]


def cmd(dockerfile) -> list[str]:
    [arguments] = [arguments for word, arguments in dockerfile if word == "CMD"]
    return exec_form(arguments)


def flag(command: list[str], name: str) -> str:
    [value] = [part.split("=", 1)[1] for part in command if part.startswith(f"--{name}=")]
    return value


def test_the_image_is_slim_python_3_12_and_runs_as_another_user_than_root(dockerfile):
    words = [word for word, _ in dockerfile]
    assert dockerfile[0] == ("FROM", "python:3.12-slim")
    [user] = [arguments for word, arguments in dockerfile if word == "USER"]
    assert user not in ("root", "0") and words.index("USER") < words.index("CMD")
    assert any(word == "RUN" and "useradd" in arguments and user in arguments for word, arguments in dockerfile)


def test_the_images_command_is_the_readmes_with_the_server_flags_it_needs(dockerfile):
    command = cmd(dockerfile)
    assert command[:len(readme_app_command())] == readme_app_command() == ["streamlit", "run", "app.py"]
    assert flag(command, "server.address") == "0.0.0.0" and flag(command, "server.headless") == "true"
    [exposed] = [arguments for word, arguments in dockerfile if word == "EXPOSE"]
    assert flag(command, "server.port") == exposed


def test_the_healthcheck_asks_the_health_path_on_the_apps_port(dockerfile):
    [healthcheck] = [arguments for word, arguments in dockerfile if word == "HEALTHCHECK"]
    options, _, command = healthcheck.partition(" CMD ")
    assert re.search(r"--interval=\d+s", options) and re.search(r"--timeout=\d+s", options)
    probe = " ".join(exec_form(command))
    assert f"127.0.0.1:{flag(cmd(dockerfile), 'server.port')}{HEALTH}" in probe


def test_the_image_holds_the_app_and_bakes_in_the_shipped_results_for_its_own_numpy(dockerfile):
    sources = [source for word, arguments in dockerfile if word == "COPY" for source in arguments.split()[:-1]]
    for source in sources:
        assert (REPO / source).exists(), source
    assert {"app.py", "gradviz/", "examples/", "requirements.txt", ".streamlit/", "scripts/precompute.py"} <= set(sources)
    runs = " && ".join(arguments for word, arguments in dockerfile if word == "RUN")
    assert "pip install -r requirements.txt" in runs and "python scripts/precompute.py" in runs
    ignored = (REPO / ".dockerignore").read_text().split()
    assert not {"app.py", "gradviz", "requirements.txt", ".streamlit", "scripts", "examples"} & set(ignored)


def pod(manifests) -> dict:
    return manifests["Deployment"]["spec"]["template"]["spec"]


def container_port(container: dict, port) -> int:
    """A probe's or service's port, by number or by the container port's name."""
    return next(p["containerPort"] for p in container["ports"] if port in (p["containerPort"], p.get("name")))


def test_the_manifests_hold_a_deployment_a_service_an_ingress_and_an_autoscaler(manifests):
    assert set(manifests) == {"Deployment", "Service", "Ingress", "HorizontalPodAutoscaler"}
    assert all(document["metadata"]["name"] == "gradviz" for document in manifests.values())
    assert manifests["Deployment"]["spec"]["replicas"] >= 2


def test_every_probe_asks_the_health_path_on_the_port_the_app_listens_on(manifests, dockerfile):
    [container] = pod(manifests)["containers"]
    port = int(flag(cmd(dockerfile), "server.port"))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        check = container[probe]["httpGet"]
        assert check["path"] == HEALTH and container_port(container, check["port"]) == port, probe


def test_the_pod_has_resource_requests_and_limits_and_runs_unprivileged(manifests):
    [container] = pod(manifests)["containers"]
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and \
        {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert pod(manifests)["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    if container["securityContext"].get("readOnlyRootFilesystem"):  # then uploads need a writable temporary folder
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert "/tmp" in mounts


def test_the_service_and_ingress_reach_the_pods_with_cookie_affinity_and_room_for_an_upload(manifests):
    labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    service = manifests["Service"]["spec"]
    assert service["selector"].items() <= labels.items()
    [container] = pod(manifests)["containers"]
    [service_port] = service["ports"]
    container_port(container, service_port["targetPort"])
    ingress = manifests["Ingress"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600  # a websocket for a lesson
    body_mb = int(annotations["nginx.ingress.kubernetes.io/proxy-body-size"].rstrip("m"))
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert body_mb > config["server"]["maxUploadSize"]
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    backend = path["backend"]["service"]
    assert backend["name"] == manifests["Service"]["metadata"]["name"]
    assert backend["port"].get("name", backend["port"].get("number")) in (service_port["name"], service_port["port"])


def test_the_autoscaler_scales_the_deployment_on_cpu(manifests):
    spec = manifests["HorizontalPodAutoscaler"]["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gradviz"}
    [metric] = spec["metrics"]
    assert metric["resource"]["name"] == "cpu" and 0 < metric["resource"]["target"]["averageUtilization"] <= 100
    assert 1 <= spec["minReplicas"] <= manifests["Deployment"]["spec"]["replicas"] <= spec["maxReplicas"]
