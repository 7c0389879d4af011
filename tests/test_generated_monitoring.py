"""The monitoring of generated services (k8s/monitoring/, and datadog/ with Datadog): the
Prometheus rules pass `promtool check rules` and their own unit tests (`promtool test
rules`, synthetic series that fire and do not fire each alert), the tree builds with
kustomize, the alerts and dashboard panels are those of the variant's components, each alert
links to its runbook section, and the Datadog files are valid API bodies.

One render per shape of the rules: whether the service has a database, a cache, a task
queue and events (the other choices do not change them). Whether the metrics they name are
exported is tested inside each generated suite (tests/test_monitoring.py), on the app.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from datadog_api_client import Configuration
from datadog_api_client.model_utils import (
    ModelComposed,
    ModelSimple,
    OpenApiModel,
    validate_and_convert_types,
)
from datadog_api_client.v1.model.dashboard import Dashboard
from datadog_api_client.v1.model.monitor import Monitor
from datadog_api_client.v1.model.service_level_objective_request import ServiceLevelObjectiveRequest

from scaffold.workflow import Template, run_template
from template_matrix import TEMPLATE_PATH, all_combinations

SHAPE = ("hasDatabase", "cache", "hasTaskQueue", "events")
SLO_ALERTS = {
    "ApiAvailabilityBudgetBurnFast",
    "ApiAvailabilityBudgetBurnSlow",
    "ApiLatencyBudgetBurnFast",
    "ApiLatencyBudgetBurnSlow",
    "RateLimitRefusing",
}


def _shape(values: dict[str, Any]) -> tuple[Any, ...]:
    derived = {
        **values,
        "hasDatabase": values["database"] != "none",
        "hasTaskQueue": values["taskQueue"] != "none",
    }
    return tuple(derived[key] for key in SHAPE)


def _variants() -> list[dict[str, Any]]:
    by_shape: dict[tuple[Any, ...], dict[str, Any]] = {}
    for values in all_combinations(Template.load(TEMPLATE_PATH)):
        by_shape.setdefault(_shape(values), values)
    return [by_shape[shape] for shape in sorted(by_shape, key=str)]


VARIANTS = _variants()


def _id(values: dict[str, Any]) -> str:
    return "-".join(str(part) for part in _shape(values))


@functools.cache
def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not on PATH (bash .ci/run installs it)")
    return found


@pytest.fixture(scope="module", params=VARIANTS, ids=_id)
def rendered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path]:
    values: dict[str, Any] = request.param
    root = tmp_path_factory.mktemp("monitoring")
    run_template(Template.load(TEMPLATE_PATH), values, root)
    return values, root


def _expected_alerts(values: dict[str, Any]) -> set[str]:
    alerts = set(SLO_ALERTS)
    if values["database"] != "none":
        alerts.add("DatabaseUnavailable")
    if values["cache"] != "none":
        alerts.add("CacheBypassed")
    if values["taskQueue"] != "none":
        alerts |= {"TaskEnqueueFailing", "TaskFailuresHigh", "TaskBacklogGrowing"}
    if values["events"] != "none":
        alerts |= {"EventsDeadLettered", "EventsConsumerLagging"}
        if values["database"] != "none":
            alerts.add("EventsRelayFailing")
    return alerts


def test_rules_pass_promtool_and_their_unit_tests(
    rendered: tuple[dict[str, Any], Path], tmp_path: Path
) -> None:
    values, root = rendered
    monitoring = root / "k8s" / "monitoring"
    rule = yaml.safe_load((monitoring / "prometheus-rule.yaml").read_text(encoding="utf-8"))
    # What `make monitoring-test` does, without uv: the rule's spec as a rule file.
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]), encoding="utf-8")
    shutil.copy(monitoring / "tests" / "rules.test.yaml", tmp_path)
    assert "monitoring-test:" in (root / "Makefile").read_text(encoding="utf-8")

    for command in (["check", "rules", "rules.yaml"], ["test", "rules", "rules.test.yaml"]):
        run = subprocess.run(
            [_tool("promtool"), *command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == 0, run.stdout + run.stderr

    alerts = {rule["alert"] for group in rule["spec"]["groups"] for rule in group["rules"] if "alert" in rule}
    assert alerts == _expected_alerts(values)
    tested = set(re.findall(r"alertname: (\w+)", (monitoring / "tests" / "rules.test.yaml").read_text()))
    assert tested == alerts
    runbook = (root / "docs" / "runbook.md").read_text(encoding="utf-8")
    for group in rule["spec"]["groups"]:
        for entry in group["rules"]:
            if "alert" in entry:
                url = entry["annotations"]["runbook_url"]
                assert (
                    url
                    == f"https://github.com/acme/{values['name']}/blob/main/docs/runbook.md#{entry['alert'].lower()}"
                )
                assert f"\n## {entry['alert']}\n" in runbook


def test_monitoring_tree_builds_with_kustomize(rendered: tuple[dict[str, Any], Path]) -> None:
    values, root = rendered
    built = subprocess.run(
        [_tool("kubectl"), "kustomize", str(root / "k8s" / "monitoring")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    objects = {
        (item["kind"], item["metadata"]["name"]): item for item in yaml.safe_load_all(built.stdout) if item
    }
    name = values["name"]
    expected = {("ServiceMonitor", name), ("PrometheusRule", name), ("ConfigMap", f"{name}-dashboard")}
    if values["events"] != "none":
        expected.add(("PodMonitor", f"{name}-events"))
    if values["taskQueue"] != "none":
        expected.add(("PodMonitor", f"{name}-worker"))
    assert set(objects) == expected
    for item in objects.values():
        assert item["metadata"]["labels"]["backstage.io/kubernetes-id"] == name
    dashboard = objects[("ConfigMap", f"{name}-dashboard")]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    panels = json.loads(dashboard["data"]["dashboard.json"])["panels"]
    titles = " ".join(panel["title"] for panel in panels)
    for signal in ("Traffic", "Errors", "Latency", "Saturation"):
        assert f"{signal}:" in titles
    assert ("Cache:" in titles) == (values["cache"] != "none")
    assert ("Tasks:" in titles) == (values["taskQueue"] != "none")
    assert ("Events:" in titles) == (values["events"] != "none")
    if values["taskQueue"] != "none":
        # The worker's PodMonitor selects the worker's pods, on the port its metrics are served.
        worker = yaml.safe_load((root / "k8s" / "worker-deployment.yaml").read_text(encoding="utf-8"))
        pod = worker["spec"]["template"]
        pod_monitor = objects[("PodMonitor", f"{name}-worker")]["spec"]
        assert pod_monitor["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        (container,) = pod["spec"]["containers"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert [endpoint["port"] for endpoint in pod_monitor["podMetricsEndpoints"]] == ["metrics"]
        assert ports["metrics"] == int(pod["metadata"]["annotations"]["prometheus.io/port"]) == 9101
    # The Service the ServiceMonitor selects is the app's, on its named port.
    service = yaml.safe_load((root / "k8s" / "service.yaml").read_text(encoding="utf-8"))
    monitor = objects[("ServiceMonitor", name)]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [endpoint["port"] for endpoint in monitor["endpoints"]] == [
        port["name"] for port in service["spec"]["ports"]
    ]


def test_catalog_points_grafana_at_the_dashboard_and_alerts(rendered: tuple[dict[str, Any], Path]) -> None:
    values, root = rendered
    component = next(yaml.safe_load_all((root / "catalog-info.yaml").read_text(encoding="utf-8")))
    annotations = component["metadata"]["annotations"]
    dashboard = json.loads((root / "k8s" / "monitoring" / "dashboard.json").read_text(encoding="utf-8"))
    assert annotations["grafana/dashboard-selector"] == f"tags @> '{values['name']}'"
    assert values["name"] in dashboard["tags"]
    assert annotations["grafana/alert-label-selector"] == f"service={values['name']}"


def _problems(model: object, path: str = "$") -> list[str]:
    """What Datadog's client models could not take: values outside an enum or a oneOf (the
    client keeps them as "unparsed") and fields the model does not have."""
    found = []
    if isinstance(model, OpenApiModel):
        if getattr(model, "_unparsed", False):
            found.append(f"{path}: not a valid value")
        store: dict[str, object] = getattr(model, "_data_store", {})
        if not isinstance(model, ModelComposed | ModelSimple):
            found += [f"{path}.{key}: unknown field" for key in store if key not in model.attribute_map]
        for key, value in store.items():
            found += _problems(value, f"{path}.{key}")
        for instance in getattr(model, "_composed_instances", []):
            found += _problems(instance, path)
    elif isinstance(model, list):
        for index, item in enumerate(model):
            found += _problems(item, f"{path}[{index}]")
    return found


def _datadog_model(data: Any, model: type[OpenApiModel], where: str) -> OpenApiModel:
    converted = validate_and_convert_types(  # type: ignore[no-untyped-call]
        data,
        (model,),
        [where],
        True,
        True,
        Configuration(),  # type: ignore[no-untyped-call]
    )
    assert _problems(converted) == [], where
    return converted  # type: ignore[no-any-return]


@pytest.mark.parametrize("values", VARIANTS, ids=_id)
def test_datadog_files_are_valid_api_bodies_with_the_same_alerts(
    values: dict[str, Any], tmp_path: Path
) -> None:
    """With Datadog: datadog/ holds SLOs, monitors and a dashboard that Datadog's own API
    client models (datadog-api-client) accept, one monitor or more per Prometheus alert, each
    linking to the same runbook section; without Datadog, no datadog/ folder."""
    for datadog in (True, False):
        root = tmp_path / str(datadog)
        tracing = "datadog" if datadog else "none"
        run_template(Template.load(TEMPLATE_PATH), {**values, "tracing": tracing}, root)
        assert (root / "datadog").exists() == datadog
    folder = tmp_path / "True" / "datadog"
    for index, slo in enumerate(json.loads((folder / "slos.json").read_text(encoding="utf-8"))):
        _datadog_model(slo, ServiceLevelObjectiveRequest, f"slos.json[{index}]")
    _datadog_model(
        json.loads((folder / "dashboard.json").read_text(encoding="utf-8")), Dashboard, "dashboard.json"
    )
    runbook = f"https://github.com/acme/{values['name']}/blob/main/docs/runbook.md#"
    alerts = set()
    for index, body in enumerate(json.loads((folder / "monitors.json").read_text(encoding="utf-8"))):
        monitor = _datadog_model(body, Monitor, f"monitors.json[{index}]")
        (alert,) = (tag.removeprefix("alert:") for tag in monitor.tags if tag.startswith("alert:"))
        assert f"Runbook: {runbook}{alert.lower()}" in monitor.message
        alerts.add(alert)
    assert alerts == _expected_alerts(values)
    assert subprocess.run(["bash", "-n", str(folder / "apply.sh")], check=False).returncode == 0
    assert (folder / "apply.sh").stat().st_mode & 0o111
