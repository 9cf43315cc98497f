"""The Helm chart, the alert rules and the Dockerfile, checked with the real tools."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from support.cluster import binaries_dir

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "wsaudit"
ALL_TOGGLES = [
    "--set",
    "webhook.mode=warn",
    "--set",
    "replicaCount=2",
    "--set",
    "metrics.serviceMonitor.enabled=true",
    "--set",
    "metrics.prometheusRule.enabled=true",
    "--set",
    "dashboard.enabled=true",
    "--set",
    "podDisruptionBudget.enabled=true",
    "--set",
    "rbac.secretNamespaces={prod}",
    "--set",
    "watchNamespaces={prod,staging}",
    "--set",
    "metrics.prometheusRule.additionalRuleLabels.team=platform",
    "--set",
    "ingressAudit.controllerConfigs={ingress-nginx/ingress-nginx-controller}",
    "--set",
    "ingressAudit.loadBalancerServices={ingress-nginx/ingress-nginx-controller}",
    "--set",
    "probe.maxConcurrentPerNamespace=3",
    "--set",
    "networkPolicy.enabled=true",
    "--set",
    "networkPolicy.egress.probes.except={10.0.0.0/8,fd00::/8}",
    "--set",
    "networkPolicy.egress.apiServer.to[0].ipBlock.cidr=10.0.0.1/32",
]


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binaries_dir() / "helm"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def render(*args: str) -> list[dict[str, object]]:
    done = helm("template", "wsaudit", str(CHART), "--namespace", "wsaudit", *args)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.mark.parametrize(
    "toggles",
    [
        [],
        ALL_TOGGLES,
        [*ALL_TOGGLES, "--set", "webhook.certificate.source=job"],
        [*ALL_TOGGLES, "--set", "webhook.certificate.source=cert-manager"],
    ],
    ids=["defaults", "every-toggle", "certificate-job", "certificate-cert-manager"],
)
def test_helm_lint_and_template(toggles: list[str]) -> None:
    linted = helm("lint", "--strict", str(CHART), *toggles)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    kinds = {str(doc["kind"]) for doc in render(*toggles)}
    assert {"Deployment", "ServiceAccount", "ClusterRole", "CustomResourceDefinition"} <= kinds
    if toggles:
        assert {
            "ServiceMonitor",
            "PrometheusRule",
            "ValidatingWebhookConfiguration",
            "PodDisruptionBudget",
            "ConfigMap",
            "Role",
            "RoleBinding",
            "NetworkPolicy",
        } <= kinds


def test_deployment_is_restricted_and_probed() -> None:
    deployment = next(d for d in render() if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]  # type: ignore[index]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["limits"]["memory"]


def test_one_replica_is_recreated_several_roll() -> None:
    """A RollingUpdate of one standalone operator runs two during the upgrade (duplicate
    probes, racing status writes); peering makes it safe with more replicas."""

    def strategy(*args: str) -> object:
        return next(d for d in render(*args) if d["kind"] == "Deployment")["spec"]["strategy"]  # type: ignore[index]

    assert strategy() == {"type": "Recreate"}
    assert strategy("--set", "replicaCount=3") == {"type": "RollingUpdate"}
    rolling = "--set", "strategy.type=RollingUpdate", "--set", "strategy.rollingUpdate.maxSurge=0"
    assert strategy(*rolling) == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0}}
    assert strategy("--set", "replicaCount=2", "--set", "strategy.type=Recreate") == {
        "type": "Recreate"
    }


def deployment_env(*args: str) -> dict[str, str]:
    deployment = next(d for d in render(*args) if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    return {e["name"]: e["value"] for e in container["env"]}


def test_every_replica_count_joins_the_peering() -> None:
    """Scaling up by an upgrade rolls new pods out beside the old one: were the old one
    standalone (it ignores peers), both would probe. With peering one stays active."""
    for replicas in ("1", "2", "5"):
        assert deployment_env("--set", f"replicaCount={replicas}")["WSAUDIT_PEERING"] == "wsaudit"
    cluster_role = next(d for d in render() if d["kind"] == "ClusterRole")
    assert any("clusterkopfpeerings" in r["resources"] for r in cluster_role["rules"])  # type: ignore[index]


def test_pod_ids_are_values_and_service_links_are_off() -> None:
    for pod in (
        next(d for d in render() if d["kind"] == "Deployment")["spec"]["template"]["spec"],  # type: ignore[index]
        next(d for d in render() if d["kind"] == "Pod")["spec"],
    ):
        assert pod["enableServiceLinks"] is False
        assert pod["securityContext"]["runAsUser"] == 65532
    assigned = render(
        "--set",
        "securityContext.runAsUser=null",
        "--set",
        "securityContext.runAsGroup=null",
        "--set-string",
        "securityContext.fsGroup=",
    )
    for pod in (
        next(d for d in assigned if d["kind"] == "Deployment")["spec"]["template"]["spec"],  # type: ignore[index]
        next(d for d in assigned if d["kind"] == "Pod")["spec"],
    ):
        context = pod["securityContext"]
        assert not {"runAsUser", "runAsGroup", "fsGroup"} & set(context), context
        assert context["runAsNonRoot"] is True  # the image's USER 65532 still satisfies it
    custom = render("--set", "securityContext.runAsUser=1000")
    pod = next(d for d in custom if d["kind"] == "Deployment")["spec"]["template"]["spec"]  # type: ignore[index]
    assert pod["securityContext"]["runAsUser"] == 1000


def test_metrics_and_webhook_have_a_service_each() -> None:
    docs = render("--set", "webhook.mode=warn", "--set", "metrics.serviceMonitor.enabled=true")
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}  # type: ignore[index]
    assert set(services) == {"wsaudit-metrics", "wsaudit-webhook"}
    metrics, webhook = services["wsaudit-metrics"], services["wsaudit-webhook"]
    assert metrics["spec"]["type"] == "ClusterIP"  # type: ignore[index]
    assert [p["name"] for p in metrics["spec"]["ports"]] == ["metrics"]  # type: ignore[index]
    assert [p["name"] for p in webhook["spec"]["ports"]] == ["webhook"]  # type: ignore[index]
    configuration = next(d for d in docs if d["kind"] == "ValidatingWebhookConfiguration")
    assert {h["clientConfig"]["service"]["name"] for h in configuration["webhooks"]} == {  # type: ignore[index]
        "wsaudit-webhook"
    }
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert secret["metadata"]["annotations"]["wsaudit.io/service"] == "wsaudit-webhook.wsaudit.svc"  # type: ignore[index]
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    selected = monitor["spec"]["selector"]["matchLabels"]  # type: ignore[index]
    assert all(metrics["metadata"]["labels"].get(k) == v for k, v in selected.items())  # type: ignore[index]
    assert any(webhook["metadata"]["labels"].get(k) != v for k, v in selected.items())  # type: ignore[index]
    # WsauditOperatorDown keys on the label the ServiceMonitor copies onto every target.
    assert monitor["spec"]["targetLabels"] == ["app.kubernetes.io/part-of"]  # type: ignore[index]
    assert metrics["metadata"]["labels"]["app.kubernetes.io/part-of"] == "wsaudit"  # type: ignore[index]
    rules = (CHART / "files" / "alerts" / "wsaudit.rules.yaml").read_text()
    assert 'absent(up{app_kubernetes_io_part_of="wsaudit"} == 1)' in rules
    assert "job=~" not in rules
    only_metrics = [d for d in render() if d["kind"] == "Service"]
    assert [d["metadata"]["name"] for d in only_metrics] == ["wsaudit-metrics"]  # type: ignore[index]
    pod = next(d for d in render() if d["kind"] == "Pod")
    assert "wsaudit-metrics.wsaudit.svc" in pod["spec"]["containers"][0]["command"][-1]  # type: ignore[index]


def test_no_pod_disruption_budget_for_one_replica() -> None:
    enabled = "--set", "podDisruptionBudget.enabled=true"
    assert not [d for d in render(*enabled) if d["kind"] == "PodDisruptionBudget"]
    budgets = [
        d for d in render(*enabled, "--set", "replicaCount=2") if d["kind"] == "PodDisruptionBudget"
    ]
    assert len(budgets) == 1


def test_only_annotated_ingresses_reach_the_webhook() -> None:
    configuration = next(
        d
        for d in render("--set", "webhook.mode=warn")
        if d["kind"] == "ValidatingWebhookConfiguration"
    )
    hooks = {h["name"]: h for h in configuration["webhooks"]}  # type: ignore[index]
    (condition,) = hooks["ingresses.wsaudit.io"]["matchConditions"]
    assert (
        "object.metadata.annotations['wsaudit.io/websocket'] == 'true'" in condition["expression"]
    )
    assert "has(object.metadata.annotations)" in condition["expression"]
    assert "matchConditions" not in hooks["websocketendpoints.wsaudit.io"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["--set", "metrics.service.type=LoadBalancer"], "value must be 'ClusterIP'"),
        (["--set", "metrics.service.type=NodePort"], "value must be 'ClusterIP'"),
        (["--set", "strategy.type=Canary"], "value must be one of 'Recreate', 'RollingUpdate'"),
        (["--set", "securityContext.runAsUser=0"], "minimum: got 0, want 1"),
        (["--set", "securityContext.fsGroup=root"], "maxLength: got 4, want 0"),
        (["--set", "webhook.mode=block"], "value must be one of 'off', 'warn', 'deny'"),
        (["--set", "webhook.timeoutSeconds=30"], "maximum: got 30, want 5"),
        (["--set", "replicaCount=0"], "minimum: got 0, want 1"),
        (["--set", "metrics.port=70000"], "maximum: got 70,000, want 65,535"),
        (["--set", "watchNamespaces={Prod}"], "does not match pattern"),
        (["--set", "probe.allowPrivat=true"], "additional properties 'allowPrivat' not allowed"),
        (["--set", "logFormat=xml"], "value must be one of 'text', 'json'"),
        (
            ["--set", "webhook.certificate.source=self-signed"],
            "value must be one of 'generated', 'job', 'cert-manager'",
        ),
        (
            ["--set", "webhook.certManager.enabled=true"],
            "at '/webhook': additional properties 'certManager' not allowed",
        ),
        (
            ["--set", "networkPolicy.egress.probes.except={10.0.0.0}"],
            "at '/networkPolicy/egress/probes/except/0': '10.0.0.0' does not match pattern",
        ),
        (
            ["--set", "networkPolicy.ingress.metrics.from[0].podSelectr.app=prometheus"],
            "additional properties 'podSelectr' not allowed",
        ),
        (
            ["--set", "networkPolicy.egress.dns.ports[0].protocol=ICMP"],
            "value must be one of 'TCP', 'UDP', 'SCTP'",
        ),
        (
            [
                "--set",
                "networkPolicy.enabled=true",
                "--set",
                "networkPolicy.egress.probes.allowList={203.0.113.0/24}",
            ],
            "networkPolicy.egress.apiServer.to: give the API server's addresses",
        ),
    ],
)
def test_values_schema_rejects_wrong_values(values: list[str], message: str) -> None:
    done = helm("template", "wsaudit", str(CHART), *values)
    assert done.returncode != 0
    assert message in done.stderr


def test_chart_crds_are_the_generated_ones_with_keep() -> None:
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        assert (CHART / "files" / "crds" / path.name).read_text() == path.read_text(), (
            f"run `make crds`: charts/wsaudit/files/crds/{path.name} differs"
        )
    crds = [d for d in render() if d["kind"] == "CustomResourceDefinition"]
    assert len(crds) == len(list((ROOT / "crds").glob("*.yaml")))
    for crd in crds:
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"  # type: ignore[index]
    assert not [
        d for d in render("--set", "crds.enabled=false") if d["kind"] == "CustomResourceDefinition"
    ]


def test_rbac_is_least_privilege() -> None:
    cluster_role = next(d for d in render() if d["kind"] == "ClusterRole")
    resources = {r for rule in cluster_role["rules"] for r in rule["resources"]}  # type: ignore[index]
    assert "secrets" not in resources
    assert not any("*" in rule["verbs"] for rule in cluster_role["rules"])  # type: ignore[index]
    namespaced = render("--set", "watchNamespaces={prod}", "--set", "rbac.secretNamespaces={prod}")
    cluster_role = next(d for d in namespaced if d["kind"] == "ClusterRole")
    resources = {r for rule in cluster_role["rules"] for r in rule["resources"]}  # type: ignore[index]
    assert "ingresses" not in resources and "websocketendpoints" not in resources
    roles = [d for d in namespaced if d["kind"] == "Role"]
    assert {r["metadata"]["namespace"] for r in roles} == {"prod", "default"}  # type: ignore[index]
    # In default: only what the probe guard needs to refuse the API server's own addresses.
    (api_server,) = [r for r in roles if r["metadata"]["namespace"] == "default"]  # type: ignore[index]
    assert api_server["rules"] == [  # type: ignore[index]
        {
            "apiGroups": [""],
            "resources": ["services"],
            "resourceNames": ["kubernetes"],
            "verbs": ["get"],
        },
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list"]},
    ]


def test_cluster_level_objects_get_a_role_for_that_one_object() -> None:
    rendered = render(
        "--set",
        "ingressAudit.controllerConfigs={ingress-nginx/ingress-nginx-controller}",
        "--set",
        "ingressAudit.loadBalancerServices={ingress-nginx/ingress-nginx-controller}",
    )
    roles = [
        d
        for d in rendered
        if d["kind"] == "Role" and d["metadata"]["namespace"] != "default"  # type: ignore[index]
    ]
    granted = {
        (r["metadata"]["namespace"], rule["resources"][0], tuple(rule["resourceNames"]))  # type: ignore[index]
        for r in roles
        for rule in r["rules"]  # type: ignore[attr-defined]
    }
    assert granted == {
        ("ingress-nginx", "configmaps", ("ingress-nginx-controller",)),
        ("ingress-nginx", "services", ("ingress-nginx-controller",)),
    }
    assert all(rule["verbs"] == ["get"] for r in roles for rule in r["rules"])  # type: ignore[index]
    deployment = next(d for d in rendered if d["kind"] == "Deployment")
    env = {
        e["name"]: e.get("value")
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }  # type: ignore[index]
    assert env["WSAUDIT_CONTROLLER_CONFIGS"] == "ingress-nginx/ingress-nginx-controller"
    assert env["WSAUDIT_LOAD_BALANCER_SERVICES"] == "ingress-nginx/ingress-nginx-controller"


def test_webhook_configuration_fails_open_fast_and_skips_system_namespaces() -> None:
    docs = render("--set", "webhook.mode=deny")
    configuration = next(d for d in docs if d["kind"] == "ValidatingWebhookConfiguration")
    for hook in configuration["webhooks"]:  # type: ignore[index]
        assert hook["failurePolicy"] == "Ignore"
        assert hook["timeoutSeconds"] <= 5
        excluded = hook["namespaceSelector"]["matchExpressions"][0]["values"]
        assert {"kube-system", "wsaudit"} <= set(excluded)
        assert hook["clientConfig"]["caBundle"]
    assert {h["clientConfig"]["service"]["path"] for h in configuration["webhooks"]} == {  # type: ignore[index]
        "/validate-ingress",
        "/validate-websocketendpoint",
    }


def webhook_objects(*args: str) -> list[dict[str, object]]:
    return render("--set", "webhook.mode=deny", *args)


def kind(documents: list[dict[str, object]], name: str) -> list[dict[str, Any]]:
    return [cast(dict[str, Any], d) for d in documents if d["kind"] == name]


def test_cert_manager_renewals_never_change_the_ca_bundle() -> None:
    """A CA chain: the cainjector copies the serving certificate's ca.crt, the CA that signs
    every renewal, so the caBundle the API server trusts stays valid across renewals."""
    documents = webhook_objects("--set", "webhook.certificate.source=cert-manager")
    issuers = {i["metadata"]["name"]: i["spec"] for i in kind(documents, "Issuer")}
    certificates = {c["metadata"]["name"]: c["spec"] for c in kind(documents, "Certificate")}
    assert issuers == {
        "wsaudit-selfsigned": {"selfSigned": {}},
        "wsaudit-webhook-ca": {"ca": {"secretName": "wsaudit-webhook-ca"}},
    }
    ca, serving = certificates["wsaudit-webhook-ca"], certificates["wsaudit-webhook"]
    assert ca["isCA"] is True
    assert ca["issuerRef"] == {"name": "wsaudit-selfsigned", "kind": "Issuer"}
    assert ca["privateKey"]["rotationPolicy"] == "Never"  # a renewed CA still verifies
    assert "isCA" not in serving
    assert serving["issuerRef"] == {"name": "wsaudit-webhook-ca", "kind": "Issuer"}
    assert serving["secretName"] == "wsaudit-webhook-tls"
    assert serving["dnsNames"] == ["wsaudit-webhook.wsaudit.svc", "wsaudit-webhook.wsaudit"]
    (configuration,) = kind(documents, "ValidatingWebhookConfiguration")
    annotations = configuration["metadata"]["annotations"]
    assert annotations["cert-manager.io/inject-ca-from"] == "wsaudit/wsaudit-webhook"
    assert all("caBundle" not in h["clientConfig"] for h in configuration["webhooks"])
    assert not kind(documents, "Secret")

    own = webhook_objects(
        "--set",
        "webhook.certificate.source=cert-manager",
        "--set",
        "webhook.certificate.certManager.issuerRef.name=platform-ca",
        "--set",
        "webhook.certificate.certManager.issuerRef.kind=ClusterIssuer",
    )
    assert not kind(own, "Issuer")
    (serving_only,) = kind(own, "Certificate")
    assert serving_only["spec"]["issuerRef"] == {"name": "platform-ca", "kind": "ClusterIssuer"}


def test_job_certificates_render_the_same_every_time() -> None:
    """What Argo CD applies from two `helm template` renders is the same: no Secret and no
    caBundle in the manifests (the hook Jobs create and keep them), so nothing is OutOfSync.
    The generated certificate differs at each render: that mode needs `helm install`."""

    def rendered(*args: str) -> str:
        done = helm(
            "template", "wsaudit", str(CHART), "-n", "wsaudit", "--set", "webhook.mode=deny", *args
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    job = rendered("--set", "webhook.certificate.source=job")
    assert job == rendered("--set", "webhook.certificate.source=job")
    assert rendered() != rendered()

    documents = [d for d in yaml.safe_load_all(job) if d]
    assert not kind(documents, "Secret")
    (configuration,) = kind(documents, "ValidatingWebhookConfiguration")
    assert all("caBundle" not in h["clientConfig"] for h in configuration["webhooks"])
    (deployment,) = kind(documents, "Deployment")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    mounted = next(v["secret"]["secretName"] for v in volumes if "secret" in v)
    assert mounted == "wsaudit-webhook-job-tls"
    jobs = {j["metadata"]["annotations"]["helm.sh/hook"]: j for j in kind(documents, "Job")}
    assert set(jobs) == {"pre-install,pre-upgrade", "post-install,post-upgrade"}
    for hooked in jobs.values():
        pod = hooked["spec"]["template"]
        assert pod["spec"]["containers"][0]["command"] == [
            "python",
            "-m",
            "wsaudit.controller.webhook_certificate",
            "--namespace=wsaudit",
            f"--secret={mounted}",
            "--service=wsaudit-webhook",
            "--webhook-configuration=wsaudit",
        ]
        # Not selected by the operator's Services (nor its NetworkPolicy).
        assert "app.kubernetes.io/name" not in pod["metadata"]["labels"]
        assert pod["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_only_the_hooks_may_rewrite_the_webhook_configuration() -> None:
    """The hooks' RBAC names the one Secret and the one configuration, and is deleted once
    they succeed; the operator's own ServiceAccount cannot touch either."""
    documents = webhook_objects("--set", "webhook.certificate.source=job")
    hooked = [
        d
        for d in kind(documents, "Role") + kind(documents, "ClusterRole")
        if d["metadata"]["name"] == "wsaudit-webhook-certificate"
    ]
    assert len(hooked) == 2
    for role in hooked:
        annotations = role["metadata"]["annotations"]
        assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
        for rule in role["rules"]:
            assert rule.get("resourceNames") or rule["verbs"] == ["create"], rule
    rules = [r for role in hooked for r in role["rules"]]
    (webhooks,) = [r for r in rules if r["resources"] == ["validatingwebhookconfigurations"]]
    assert webhooks["resourceNames"] == ["wsaudit"]
    operator_rules = [
        r
        for d in kind(documents, "ClusterRole") + kind(documents, "Role")
        if d["metadata"]["name"] != "wsaudit-webhook-certificate"
        for r in d["rules"]
    ]
    assert not any("validatingwebhookconfigurations" in r["resources"] for r in operator_rules)
    assert not any(
        "secrets" in r["resources"] and set(r["verbs"]) - {"get"} for r in operator_rules
    )


def test_network_policy_opens_the_operators_ports_and_closes_what_the_platform_says() -> None:
    documents = render(
        "--set",
        "webhook.mode=warn",
        "--set",
        "networkPolicy.enabled=true",
        "--set",
        "networkPolicy.egress.probes.except={10.0.0.0/8,fd00::/8,192.168.0.0/16}",
        "--set",
        "networkPolicy.egress.apiServer.to[0].ipBlock.cidr=10.0.0.1/32",
        "--set",
        "networkPolicy.ingress.metrics.from[0].namespaceSelector.matchLabels.team=monitoring",
    )
    (policy,) = kind(documents, "NetworkPolicy")
    spec = policy["spec"]
    (deployment,) = kind(documents, "Deployment")
    assert spec["podSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    opened = {rule["ports"][0]["port"]: rule.get("from") for rule in spec["ingress"]}
    assert opened == {
        9090: [{"namespaceSelector": {"matchLabels": {"team": "monitoring"}}}],
        8080: None,
        9443: None,
    }
    dns, api_server, probes = spec["egress"]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert api_server["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
    assert probes == {
        "to": [
            {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "192.168.0.0/16"]}},
            {"ipBlock": {"cidr": "::/0", "except": ["fd00::/8"]}},
        ]
    }
    allow_listed = render(
        "--set",
        "networkPolicy.enabled=true",
        "--set",
        "networkPolicy.egress.probes.allowList={203.0.113.0/24}",
        "--set",
        "networkPolicy.egress.apiServer.to[0].ipBlock.cidr=10.0.0.1/32",
    )
    (policy,) = kind(allow_listed, "NetworkPolicy")
    assert policy["spec"]["egress"][2] == {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}
    assert [r["ports"][0]["port"] for r in policy["spec"]["ingress"]] == [9090, 8080]
    assert not kind(render(), "NetworkPolicy")


def test_prometheus_rule_wraps_the_rule_file_with_extra_labels() -> None:
    rule = next(d for d in render(*ALL_TOGGLES) if d["kind"] == "PrometheusRule")
    plain = yaml.safe_load((CHART / "files" / "alerts" / "wsaudit.rules.yaml").read_text())
    wrapped = rule["spec"]["groups"][0]["rules"]  # type: ignore[index]
    assert [r["alert"] for r in wrapped] == [r["alert"] for r in plain["groups"][0]["rules"]]
    assert all(r["labels"]["team"] == "platform" and r["labels"]["severity"] for r in wrapped)
    monitor = next(d for d in render(*ALL_TOGGLES) if d["kind"] == "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True  # type: ignore[index]


def test_dashboard_is_valid_grafana_json_for_the_sidecar() -> None:
    config_map = next(
        d for d in render("--set", "dashboard.enabled=true") if d["kind"] == "ConfigMap"
    )
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"  # type: ignore[index]
    dashboard = json.loads(config_map["data"]["wsaudit.json"])  # type: ignore[index]
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert {
        "Endpoints by state",
        "Origin enforcement",
        "Certificate expiry (days left)",
        "Probe latency p95 by phase",
        "Ingress findings",
    } <= titles


PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def test_alert_rules_pass_promtool_check_and_unit_tests() -> None:
    rules = CHART / "files" / "alerts" / "wsaudit.rules.yaml"
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    unit_tests = ROOT / "tests" / "alerts" / "wsaudit.test.yaml"
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", str(unit_tests)], capture_output=True, text=True, check=False
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = {r["alert"] for r in yaml.safe_load(rules.read_text())["groups"][0]["rules"]}
    unit_tested = unit_tests.read_text()
    assert all(f"alertname: {alert}" in unit_tested for alert in alerts)
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    assert all(f"## {alert}" in runbooks for alert in alerts)


def test_dockerfile_passes_hadolint_and_runs_as_non_root() -> None:
    hadolint = Path(shutil.which("hadolint") or ROOT / ".venv" / "bin" / "hadolint")
    done = subprocess.run(
        [str(hadolint), str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = (ROOT / "Dockerfile").read_text()
    assert "USER 65532:65532" in text
    assert 'CMD ["run"]' in text
