"""The deployment files as an operator applies them: compose and the Kubernetes manifests run
the API, the worker (liveness, graceful stop) and a migration job with resource limits, name
only settings the code has, and `.env.example` lists exactly those settings."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from dataclasses import fields

import pytest
import yaml

from service.notifications import webhooks
from service.settings import ROOT, Settings

DEPLOY = ROOT / "deploy"
SETTING_NAMES = {f"ALLIANCE_{field.name.upper()}" for field in fields(Settings)}
NAMED = re.compile(r"ALLIANCE_[A-Z0-9_]*[A-Z0-9]")
ENTRY = re.compile(r"^#?(ALLIANCE_[A-Z0-9_]+)=", re.MULTILINE)
WORKER = ["python", "-m", "service.worker"]
MIGRATE = ["alembic", "upgrade", "head"]
# Time the worker may need after SIGTERM: the message in hand is a webhook call (its total
# deadline) or an SMTP exchange (its timeout).
LONGEST_DELIVERY_SECONDS = max(webhooks.TIMEOUT_SECONDS, Settings().smtp_timeout)


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def manifests() -> list[dict]:
    return [
        document
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def of_kind(kind: str, name: str) -> dict:
    [found] = [m for m in manifests() if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def containers(workload: dict) -> list[dict]:
    return workload["spec"]["template"]["spec"]["containers"]


def test_env_example_lists_exactly_the_settings_the_code_reads():
    text = (ROOT / ".env.example").read_text()
    listed = ENTRY.findall(text)
    assert sorted(listed) == sorted(set(listed)), "a setting is listed twice"
    assert set(listed) == SETTING_NAMES
    lines = text.splitlines()
    for above, line in itertools.pairwise(lines):  # each says what it is, above it
        if ENTRY.match(line):
            assert above.startswith("# ") and not ENTRY.match(above), f"{line}: no comment"


def test_deploy_files_name_only_settings_that_exist():
    for path in [*sorted(DEPLOY.rglob("*")), ROOT / ".env.example"]:
        if path.is_file():
            unknown = set(NAMED.findall(path.read_text())) - SETTING_NAMES
            assert not unknown, f"{path.relative_to(ROOT)} names settings the code lacks"


def test_compose_runs_the_worker_beside_the_api_with_a_migration_first():
    services = compose()["services"]
    api, worker, migrate = services["api"], services["worker"], services["migrate"]
    assert api["image"] == worker["image"] == migrate["image"]  # one image for all three
    assert migrate["command"] == MIGRATE and migrate["restart"] == "no"
    for app in (api, worker):
        assert app["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert app["deploy"]["resources"]["limits"]["memory"]
        grace = int(app["stop_grace_period"].removesuffix("s"))
        assert grace > LONGEST_DELIVERY_SECONDS
    assert worker["command"] == WORKER
    assert worker["healthcheck"]["test"] == ["CMD", *WORKER, "--alive"]
    assert worker["environment"]["ALLIANCE_WORKER_METRICS_PORT"]
    # production settings: /metrics is restricted, or the API would refuse to serve it
    assert api["environment"]["ALLIANCE_ENV"] == "production"
    assert api["environment"]["ALLIANCE_METRICS_TOKEN"]
    assert api["environment"]["ALLIANCE_RATELIMIT_STORAGE_URI"].startswith("redis://")
    assert "redis" in services and "postgres" in services


def test_kubernetes_runs_the_worker_its_own_deployment_with_a_liveness_probe():
    api = of_kind("Deployment", "alliance-api")
    worker = of_kind("Deployment", "alliance-worker")
    [api_container], [worker_container] = containers(api), containers(worker)
    assert worker_container["image"] == api_container["image"]
    assert worker_container["command"] == WORKER
    assert worker_container["livenessProbe"]["exec"]["command"] == [*WORKER, "--alive"]
    grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > LONGEST_DELIVERY_SECONDS  # SIGTERM: the message in hand can finish
    mounts = {mount["mountPath"] for mount in worker_container["volumeMounts"]}
    # The heartbeat file's default directory, writable on a read-only root file system.
    assert "/tmp" in mounts  # noqa: S108 - the image's temporary directory
    assert worker_container["securityContext"]["readOnlyRootFilesystem"] is True
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    for manifest in ("deployment.yaml", "worker-deployment.yaml", "configmap.yaml"):
        assert manifest in kustomization["resources"]


def test_migrations_run_as_a_job_of_the_same_image():
    job = of_kind("Job", "alliance-migrate")
    [migrate] = containers(job)
    [api] = containers(of_kind("Deployment", "alliance-api"))
    assert migrate["command"] == MIGRATE and migrate["image"] == api["image"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_every_container_has_resource_requests_and_a_memory_limit():
    workloads = [m for m in manifests() if m["kind"] in ("Deployment", "Job")]
    assert {w["metadata"]["name"] for w in workloads} >= {
        "alliance-api",
        "alliance-worker",
        "alliance-migrate",
    }
    for workload in workloads:
        for container in containers(workload):
            resources = container["resources"]
            assert resources["requests"]["cpu"] and resources["requests"]["memory"]
            assert resources["limits"]["memory"], workload["metadata"]["name"]


def test_the_manifests_set_only_settings_that_exist():
    config = of_kind("ConfigMap", "alliance-config")["data"]
    secret = of_kind("Secret", "alliance-secrets")["stringData"]
    given = {*config, *secret}
    for workload in (m for m in manifests() if m["kind"] in ("Deployment", "Job")):
        for container in containers(workload):
            given |= {variable["name"] for variable in container.get("env", [])}
    assert {name for name in given if name.startswith("ALLIANCE_")} <= SETTING_NAMES
    assert given - SETTING_NAMES <= {"WEB_CONCURRENCY"}  # gunicorn's own, nothing misspelt
    # Production with /metrics: restricted by the Secret's token and the ConfigMap's networks.
    assert config["ALLIANCE_ENV"] == "production"
    assert secret["ALLIANCE_METRICS_TOKEN"] and config["ALLIANCE_METRICS_ALLOW"]


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl is not installed")
def test_kustomize_renders_the_manifests():
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / "k8s")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    kinds = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(rendered)}
    assert ("Deployment", "alliance-worker") in kinds and ("Deployment", "alliance-api") in kinds
