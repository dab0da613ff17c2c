#!/usr/bin/env python3
"""Consistency checks for deploy/, called by deploy/check.sh (run that, not this).

Subcommands (run from the repository root):
  sync [--write]     deploy/kubernetes/monitoring/prometheusrule.yaml == recording.yml + alerts.yml
  rules              alert annotations/labels, runbook anchors, fire/no-fire tests, metric names
  grafana OUT        dashboard structure; writes every PromQL expr into OUT as recording rules
  k8s                cross-file checks of the Kubernetes manifests and the embedded config
  systemd            unit invariants (TimeoutStopSec above drain_timeout, hardening present)
  docker             Dockerfile invariants (pins, numeric user, labels, strip, healthcheck)
  readme             every file under deploy/ is referenced from deploy/README.md

The metric names, label names and label values (and the config sections) are read from the
contract in DESIGN.md at the repository root. Standard library only, except PyYAML for the
YAML subcommands.
"""

import json
import re
import sys
from pathlib import Path

DEPLOY = Path("deploy")
PROM = DEPLOY / "prometheus"
K8S = DEPLOY / "kubernetes"
README = DEPLOY / "README.md"
DASHBOARD = DEPLOY / "grafana" / "davaudit.json"
PROMETHEUSRULE = K8S / "monitoring" / "prometheusrule.yaml"
RULE_SOURCES = [PROM / "recording.yml", PROM / "alerts.yml"]

# The contract lives in DESIGN.md at the repository root (§3.2 Configuration, §3.3 Metrics);
# these checks read it from there rather than keeping a copy.
DESIGN = Path("DESIGN.md")


def design_section(title):
    """The text of the DESIGN.md section whose `###` heading ends with `title`."""
    text = DESIGN.read_text(encoding="utf-8")
    m = re.search(rf"^###\s+[\d.]*\s*{re.escape(title)}\s*$(.*?)(?=^#{{1,3}}\s)", text,
                  re.MULTILINE | re.DOTALL)
    if not m:
        sys.exit(f"{DESIGN}: no '### {title}' section")
    return m.group(1)


_contract = {}


def contract():
    """(families, histograms, label values) from DESIGN.md's metric and label tables."""
    if not _contract:
        section = design_section("Metrics")
        families, histograms, values = {}, set(), {}
        for m in re.finditer(r"^\|\s*`(davaudit_[a-z0-9_]+)`\s*\|\s*(\w+)\s*\|([^|]*)\|",
                             section, re.MULTILINE):
            name, kind, labels = m.groups()
            families[name] = set(re.findall(r"`(\w+)`", labels))
            if kind == "histogram":
                histograms.add(name)
        # Closed label sets: rows whose values cell lists only `value`s (not `code`).
        for m in re.finditer(r"^\|\s*`(\w+)`\s*\|((?:\s*`[^`|]+`)+)\s*\|\s*$", section,
                             re.MULTILINE):
            label, cell = m.groups()
            if not label.startswith("davaudit_"):
                values[label] = set(re.findall(r"`([^`]+)`", cell))
        if len(families) < 8 or not {"outcome", "kind", "level", "method"} <= set(values):
            sys.exit(f"{DESIGN}: cannot read the metric families and label values tables "
                     f"of '### Metrics' (found {sorted(families)}, {sorted(values)})")
        _contract.update(families=families, histograms=histograms, values=values)
    return _contract["families"], _contract["histograms"], _contract["values"]


def config_sections():
    """Top-level config keys named in DESIGN.md's configuration table."""
    keys = re.findall(r"^\|\s*`([a-z_]+)[`.]", design_section("Configuration"), re.MULTILINE)
    if not keys:
        sys.exit(f"{DESIGN}: no config keys in '### Configuration'")
    return set(keys)


SEVERITIES = {"warning", "critical"}
# runbook_url is templated: the Prometheus external label davaudit_docs_url holds the docs' URL.
RUNBOOK_BASE = "{{ $externalLabels.davaudit_docs_url }}/"

failures = []


def fail(msg):
    failures.append(msg)
    print(f"  error: {msg}")


def finish():
    if failures:
        sys.exit(1)


def load_yaml(path):
    import yaml  # noqa: PLC0415 - only the YAML subcommands need it

    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_yaml_all(path):
    import yaml  # noqa: PLC0415

    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def parse_duration(text):
    """'30s', '2m', '1m30s', '45' (systemd seconds) -> seconds."""
    text = str(text).strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    units = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600}
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+)\s*(ms|min|s|m|h)", text):
        if m.start() != pos:
            raise ValueError(f"not a duration: {text!r}")
        total += int(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"not a duration: {text!r}")
    return total


# --------------------------------------------------------------------------- sync

HEADER = """\
# GENERATED from deploy/prometheus/recording.yml and deploy/prometheus/alerts.yml by
# `bash deploy/check.sh --sync`; edit those files, not this one (deploy/check.sh fails when
# they differ). Your Prometheus resource selects rules by label (its ruleSelector, often
# `release: <helm release>`): add that label from kustomization.yaml (`labels:`), not here.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: davaudit
  labels:
    app.kubernetes.io/name: davaudit
    app.kubernetes.io/component: proxy
spec:
  groups:
"""


def groups_text(path):
    """The lines after the top-level `groups:` key, indented two more spaces."""
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        start = lines.index("groups:") + 1
    except ValueError:
        sys.exit(f"{path}: no top-level 'groups:' line")
    return "".join(("  " + line if line.strip() else "") + "\n" for line in lines[start:])


def cmd_sync(args):
    expected = HEADER + "".join(groups_text(p) for p in RULE_SOURCES)
    if "--write" in args:
        PROMETHEUSRULE.write_text(expected, encoding="utf-8")
        print(f"  wrote {PROMETHEUSRULE}")
        return
    actual = PROMETHEUSRULE.read_text(encoding="utf-8") if PROMETHEUSRULE.exists() else ""
    if actual != expected:
        fail(f"{PROMETHEUSRULE} is out of sync with {', '.join(map(str, RULE_SOURCES))}: "
             "run `bash deploy/check.sh --sync`")
    # Belt and braces: compare the parsed rules too.
    doc = load_yaml(PROMETHEUSRULE)
    groups = []
    for p in RULE_SOURCES:
        groups += load_yaml(p)["groups"]
    if doc.get("spec", {}).get("groups") != groups:
        fail(f"{PROMETHEUSRULE}: spec.groups differ from the rule files")
    if doc.get("apiVersion") != "monitoring.coreos.com/v1" or doc.get("kind") != "PrometheusRule":
        fail(f"{PROMETHEUSRULE}: not a monitoring.coreos.com/v1 PrometheusRule")
    finish()
    print(f"  {PROMETHEUSRULE} matches {len(groups)} rule groups")


# --------------------------------------------------------------------------- rules


def github_anchors(markdown):
    anchors = set()
    for line in markdown.splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


def check_metric_names(where, text):
    """Every davaudit_* name is in the contract; label matchers use contract labels/values."""
    families, histograms, label_values = contract()
    for m in re.finditer(r"\bdavaudit_[a-z0-9_]+", text):
        name = m.group(0)
        base = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in histograms:
                base = name[: -len(suffix)]
        if base not in families:
            fail(f"{where}: {name} is not a contract metric (DESIGN.md, Metrics)")
            continue
        allowed = families[base] | {"job", "instance", "namespace", "pod", "service", "cluster"}
        if base in histograms:
            allowed = allowed | {"le"}
        rest = text[m.end():]
        sel = re.match(r"\s*\{([^}]*)\}", rest)
        if not sel:
            continue
        for lm in re.finditer(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', sel.group(1)):
            label, op, value = lm.groups()
            if label not in allowed:
                fail(f"{where}: {name} has no label {label!r}")
            if label in label_values and op in ("=", "!=") and "$" not in value:
                if value not in label_values[label]:
                    fail(f"{where}: {label}={value!r} is not a contract value of {label}")


def cmd_rules(_args):
    anchors = github_anchors(README.read_text(encoding="utf-8")) if README.exists() else set()
    if not anchors:
        fail(f"{README}: missing or without headings")
    alerts = {}
    for path in RULE_SOURCES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                where = f"{path}: {rule.get('alert') or rule.get('record')}"
                check_metric_names(where, rule["expr"])
                if "record" in rule:
                    if not re.fullmatch(r"davaudit:[a-z0-9_]+:[a-z0-9_]+", rule["record"]):
                        fail(f"{where}: recording rule names follow davaudit:<what>:<how>")
                    continue
                name = rule["alert"]
                sev = rule.get("labels", {}).get("severity")
                if sev not in SEVERITIES:
                    fail(f"{where}: severity label must be one of {sorted(SEVERITIES)}")
                if (name, sev) in alerts:
                    fail(f"{where}: two rules with severity {sev}")
                alerts[(name, sev)] = rule
                ann = rule.get("annotations", {})
                for key in ("summary", "description", "runbook_url"):
                    if not ann.get(key):
                        fail(f"{where}: annotation {key} missing")
                url = ann.get("runbook_url", "")
                if not re.search(r"(?i)\bthe value, \{\{ \$value[^}]*\}\}, is ",
                                 ann.get("description", "")):
                    fail(f"{where}: the description must say what the value is: "
                         "`The value, {{ $value ... }}, is ...`")
                if not url.startswith(RUNBOOK_BASE + "deploy/README.md#"):
                    fail(f"{where}: runbook_url must be {RUNBOOK_BASE}deploy/README.md#<anchor>"
                         " (absolute once the external label is set)")
                elif url.split("#", 1)[1] not in anchors:
                    fail(f"{where}: {README} has no heading for anchor #{url.split('#', 1)[1]}")
                elif url.split("#", 1)[1] != name.lower():
                    fail(f"{where}: runbook anchor should be #{name.lower()}")
    if not alerts:
        fail("no alerting rules found")

    # Every alert name has a test where it fires and one where it does not.
    tests = load_yaml(PROM / "alerts_test.yml")
    fires, quiet = {}, set()
    for case in tests.get("tests", []):
        for t in case.get("alert_rule_test", []) or []:
            exp = t.get("exp_alerts") or []
            if exp:
                for a in exp:
                    sev = a.get("exp_labels", {}).get("severity")
                    fires.setdefault(t["alertname"], set()).add(sev)
            else:
                quiet.add(t["alertname"])
    for name, sev in sorted(alerts):
        if sev not in fires.get(name, set()):
            fail(f"alerts_test.yml: no case where {name} fires with severity {sev}")
        if name not in quiet:
            fail(f"alerts_test.yml: no case where {name} stays silent")
    finish()
    names = sorted({n for n, _ in alerts})
    print(f"  {len(alerts)} alerting rules ({len(names)} alerts), each with annotations, a "
          "runbook heading and fire/no-fire tests; metric names and labels match the contract")


# --------------------------------------------------------------------------- grafana

GRAFANA_VARS = [
    (r"\$__rate_interval|\$\{__rate_interval\}", "5m"),
    (r"\$__interval|\$\{__interval\}", "1m"),
    (r"\$__range|\$\{__range\}", "1h"),
]


def iter_panels(panels):
    for p in panels:
        yield p
        yield from iter_panels(p.get("panels", []))


def cmd_grafana(args):
    out = Path(args[0])
    with open(DASHBOARD, encoding="utf-8") as f:
        dash = json.load(f)
    for key in ("title", "uid", "panels", "schemaVersion"):
        if key not in dash:
            fail(f"{DASHBOARD}: no top-level {key!r}")
    ids, exprs = set(), []
    for panel in iter_panels(dash.get("panels", [])):
        pid = panel.get("id")
        if pid in ids:
            fail(f"{DASHBOARD}: duplicate panel id {pid}")
        ids.add(pid)
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets", [])
        if not targets:
            fail(f"{DASHBOARD}: panel {panel.get('title')!r} has no targets")
        for t in targets:
            if not t.get("expr"):
                fail(f"{DASHBOARD}: panel {panel.get('title')!r} has a target without expr")
                continue
            exprs.append((panel.get("title"), t["expr"]))
    for var in dash.get("templating", {}).get("list", []):
        q = var.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if var.get("type") == "query" and q:
            m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", q)
            if m:
                exprs.append((f"variable {var.get('name')}", m.group(1)))
            else:
                fail(f"{DASHBOARD}: variable {var.get('name')}: expected label_values(expr, label)")
    rules = []
    for i, (title, expr) in enumerate(exprs):
        where = f"{DASHBOARD}: {title}"
        check_metric_names(where, expr)
        for pat, repl in GRAFANA_VARS:
            expr = re.sub(pat, repl, expr)
        rules.append({"record": f"dashboard:expr:{i}", "expr": expr,
                      "labels": {"panel": str(title)}})
    out.write_text(json.dumps({"groups": [{"name": "grafana", "rules": rules}]}, indent=1),
                   encoding="utf-8")
    finish()
    print(f"  {len(ids)} panels, {len(exprs)} expressions written to {out} for promtool")


# --------------------------------------------------------------------------- k8s


def by_kind():
    docs = {}
    paths = sorted(K8S.glob("*.yaml")) + [K8S / "monitoring" / "servicemonitor.yaml",
                                          PROMETHEUSRULE]
    for path in paths:
        for doc in load_yaml_all(path):
            if not isinstance(doc, dict) or "kind" not in doc:
                fail(f"{path}: a document without kind")
                continue
            docs.setdefault(doc["kind"], []).append((path, doc))
    # The config comes from kustomization.yaml's configMapGenerator: build the ConfigMap it
    # generates (without the hash suffix kustomize adds) so the checks below see it.
    for kpath, kust in docs.get("Kustomization", []):
        for gen in kust.get("configMapGenerator", []):
            data = {}
            for spec in gen.get("files", []):
                key, _, rel = spec.partition("=")
                rel = rel or key
                data[Path(key).name] = (kpath.parent / rel).read_text(encoding="utf-8")
            cm = {"kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data}
            docs.setdefault("ConfigMap", []).append((kpath, cm))
    return docs


def port_of(addr):
    return int(str(addr).rsplit(":", 1)[1])


def cmd_k8s(_args):
    docs = by_kind()
    for kind in ("Deployment", "Service", "ConfigMap", "PodDisruptionBudget",
                 "HorizontalPodAutoscaler", "ServiceMonitor", "PrometheusRule", "Kustomization"):
        if kind not in docs:
            fail(f"{K8S}: no {kind}")
    finish()
    _, dep = docs["Deployment"][0]
    services = {d["metadata"]["name"]: d for _, d in docs.get("Service", [])}
    svc = services.get("davaudit")
    msvc = services.get("davaudit-metrics")
    if svc is None or msvc is None:
        fail(f"{K8S}: Services davaudit (proxy) and davaudit-metrics (admin) expected, "
             f"found {sorted(services)}")
        finish()
    _, cm = docs["ConfigMap"][0]
    _, pdb = docs["PodDisruptionBudget"][0]
    _, hpa = docs["HorizontalPodAutoscaler"][0]
    _, sm = docs["ServiceMonitor"][0]
    kpath, kust = docs["Kustomization"][0]

    # The embedded config: keys davaudit knows (DESIGN.md, Configuration; deny_unknown_fields).
    cfg_text = cm.get("data", {}).get("davaudit.yaml")
    if not cfg_text:
        fail("kustomization.yaml: the configMapGenerator has no davaudit.yaml")
        finish()
    import yaml  # noqa: PLC0415

    cfg = yaml.safe_load(cfg_text)
    # Sections davaudit knows (unknown keys are errors there). The keys inside are checked by
    # `davaudit check-config` in the Rust test suite, which loads this same text.
    sections = config_sections()
    for key in cfg:
        if key not in sections:
            fail(f"kubernetes/config/davaudit.yaml: unknown section {key!r}")
    for path in ("listen", "upstream.url", "admin.listen", "shutdown.drain_timeout"):
        node = cfg
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            fail(f"kubernetes/config/davaudit.yaml: {path} must be set explicitly")
    finish()
    proxy_port = port_of(cfg["listen"])
    admin_port = port_of(cfg["admin"]["listen"])
    for name, addr in (("listen", cfg["listen"]), ("admin.listen", cfg["admin"]["listen"])):
        if not str(addr).startswith(("0.0.0.0:", "[::]:")):
            fail(f"kubernetes/config/davaudit.yaml: {name} must listen on all addresses in a pod, not {addr}")
    drain = parse_duration(cfg.get("shutdown", {}).get("drain_timeout", "30s"))

    pod = dep["spec"]["template"]["spec"]
    if "replicas" in dep["spec"]:
        fail("deployment.yaml: no replicas next to an HPA (each apply would reset the count)")
    if hpa["spec"].get("minReplicas", 1) < 2:
        fail("hpa.yaml: minReplicas at least 2")
    if "NetworkPolicy" not in docs:
        fail(f"{K8S}: no NetworkPolicy")
    else:
        _, netpol = docs["NetworkPolicy"][0]
        rules = netpol["spec"].get("ingress", [])
        admin_rules = [r for r in rules
                       if any(p.get("port") in ("metrics", admin_port) for p in r.get("ports", []))]
        if not admin_rules or any(not r.get("from") for r in admin_rules):
            fail("networkpolicy.yaml: the admin port must be open to selected peers only")
        if netpol["spec"]["podSelector"].get("matchLabels") != dep["spec"]["selector"]["matchLabels"]:
            fail("networkpolicy.yaml: podSelector must select the Deployment's pods")
    (c,) = pod["containers"]
    pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace <= drain + pre_stop:
        fail(f"deployment.yaml: terminationGracePeriodSeconds {grace} must exceed preStop "
             f"{pre_stop}s + drain_timeout {drain:g}s")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    if ports.get("http") != proxy_port:
        fail(f"deployment.yaml: port http {ports.get('http')} != config listen {proxy_port}")
    if ports.get("metrics") != admin_port:
        fail(f"deployment.yaml: port metrics {ports.get('metrics')} != admin.listen {admin_port}")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = c.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") not in ("metrics", admin_port):
            fail(f"deployment.yaml: {probe} must GET {path} on the admin port")
    args = c.get("args", [])
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    cm_name = cm["metadata"]["name"]
    cfg_vol = [n for n, v in vols.items() if v.get("configMap", {}).get("name") == cm_name]
    if not cfg_vol or mounts.get(cfg_vol[0], {}).get("mountPath") != "/etc/davaudit":
        fail(f"deployment.yaml: ConfigMap {cm_name} must be mounted at /etc/davaudit")
    if args[-2:] != ["--config", "/etc/davaudit/davaudit.yaml"]:
        fail("deployment.yaml: args must end with --config /etc/davaudit/davaudit.yaml")
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    if not psc.get("runAsNonRoot"):
        fail("deployment.yaml: pod securityContext.runAsNonRoot must be true")
    if not csc.get("readOnlyRootFilesystem") or csc.get("allowPrivilegeEscalation") is not False:
        fail("deployment.yaml: readOnlyRootFilesystem and allowPrivilegeEscalation: false")
    if csc.get("capabilities", {}).get("drop") != ["ALL"]:
        fail("deployment.yaml: capabilities.drop must be [ALL]")
    res = c.get("resources", {})
    if not res.get("requests", {}).get("cpu") or not res.get("limits", {}).get("memory"):
        fail("deployment.yaml: cpu request (the HPA needs it) and memory limit")

    labels = dep["spec"]["selector"]["matchLabels"]
    tmpl_labels = dep["spec"]["template"]["metadata"]["labels"]
    if any(tmpl_labels.get(k) != v for k, v in labels.items()):
        fail("deployment.yaml: the selector does not match the pod labels")
    for name, sel in (("service.yaml", svc["spec"]["selector"]),
                      ("service-metrics.yaml", msvc["spec"]["selector"]),
                      ("pdb.yaml", pdb["spec"]["selector"]["matchLabels"])):
        if sel != labels:
            fail(f"{name}: selector {sel} != the Deployment's {labels}")
    # The proxy Service carries WebDAV only; the admin port has its own Service.
    svc_ports = {p["name"]: p for p in svc["spec"]["ports"]}
    if set(svc_ports) != {"http"} or svc_ports["http"].get("targetPort") not in ("http", proxy_port):
        fail(f"service.yaml: only the port http (the proxy), not {sorted(svc_ports)}")
    msvc_ports = {p["name"]: p for p in msvc["spec"]["ports"]}
    if set(msvc_ports) != {"metrics"} or msvc_ports["metrics"].get("targetPort") not in (
            "metrics", admin_port):
        fail(f"service-metrics.yaml: only the port metrics (the admin port), not {sorted(msvc_ports)}")
    sm_sel = sm["spec"]["selector"]["matchLabels"]
    selects = lambda s: all(s["metadata"]["labels"].get(k) == v for k, v in sm_sel.items())  # noqa: E731
    if not selects(msvc) or selects(svc):
        fail("servicemonitor.yaml: its selector must match the metrics Service and not the proxy's")
    if sm["spec"].get("jobLabel") != "app.kubernetes.io/name" or \
            msvc["metadata"]["labels"].get("app.kubernetes.io/name") != "davaudit":
        fail('servicemonitor.yaml: jobLabel app.kubernetes.io/name, so the job is "davaudit" '
             "(alerts.yml)")
    if [e.get("port") for e in sm["spec"]["endpoints"]] != ["metrics"]:
        fail("servicemonitor.yaml: one endpoint on the port named metrics")
    # The admin door is locked, and the ServiceMonitor holds the metrics key: the token it
    # sends is the file davaudit reads as admin.metrics_token_file.
    admin_cfg = cfg.get("admin", {})
    if not admin_cfg.get("token_file") or not admin_cfg.get("metrics_token_file"):
        fail("kubernetes/config/davaudit.yaml: admin.token_file and admin.metrics_token_file "
             "must be set (the admin port is reachable in the cluster)")
    else:
        creds = sm["spec"]["endpoints"][0].get("authorization", {}).get("credentials", {})
        secret_vols = {n: v["secret"]["secretName"] for n, v in vols.items() if "secret" in v}
        mounted = {mounts[n]["mountPath"].rstrip("/"): secret for n, secret in secret_vols.items()
                   if n in mounts}
        token_dir, _, token_key = str(admin_cfg["metrics_token_file"]).rpartition("/")
        if mounted.get(token_dir) != creds.get("name") or token_key != creds.get("key"):
            fail(f"servicemonitor.yaml: authorization.credentials {creds} must be the Secret and "
                 f"key mounted as {admin_cfg['metrics_token_file']} (mounted: {mounted})")
        if str(admin_cfg["token_file"]).rpartition("/")[0] not in mounted:
            fail(f"deployment.yaml: admin.token_file {admin_cfg['token_file']} is not in a "
                 "mounted Secret")
    for kind_docs in docs.values():
        for path, d in kind_docs:
            if d.get("kind") in ("Kustomization", "ConfigMap"):
                continue
            if "app.kubernetes.io/instance" in d["metadata"].get("labels", {}):
                fail(f"{path.name}: app.kubernetes.io/instance comes from kustomization.yaml's "
                     "labels (one place an overlay changes), not from the file")
    if pdb["spec"].get("minAvailable") != 1:
        fail("pdb.yaml: minAvailable 1")
    target = hpa["spec"]["scaleTargetRef"]
    if target.get("kind") != "Deployment" or target.get("name") != dep["metadata"]["name"]:
        fail("hpa.yaml: scaleTargetRef must be the Deployment")
    if hpa["spec"].get("minReplicas", 1) < 2:
        fail("hpa.yaml: minReplicas must be at least 2")
    sets = {next(iter(l["pairs"])): l for l in kust.get("labels", [])}
    inst, ver = sets.get("app.kubernetes.io/instance"), sets.get("app.kubernetes.io/version")
    if not inst or not inst.get("includeSelectors"):
        fail("kustomization.yaml: labels app.kubernetes.io/instance with includeSelectors: true")
    if not ver or ver.get("includeSelectors") or not ver.get("includeTemplates"):
        fail("kustomization.yaml: labels app.kubernetes.io/version with includeSelectors: false "
             "and includeTemplates: true (selectors cannot change on upgrade)")
    listed = set(kust.get("resources", []))
    present = {p.name for p in K8S.glob("*.yaml")} - {kpath.name}
    if listed != present:
        fail(f"kustomization.yaml: resources {sorted(listed)} != files {sorted(present)}")
    finish()
    print(f"  {sum(len(v) for v in docs.values())} documents consistent: ports "
          f"{proxy_port}/{admin_port}, grace {grace}s > preStop {pre_stop}s + drain {drain:g}s")


# --------------------------------------------------------------------------- systemd


def unit_settings(path):
    settings = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def cmd_systemd(_args):
    path = DEPLOY / "systemd" / "davaudit.service"
    s = unit_settings(path)
    drain = 30  # the default shutdown.drain_timeout the unit's config is expected to keep
    stop = parse_duration(s.get("TimeoutStopSec", ["90s"])[-1])
    if stop <= drain:
        fail(f"{path}: TimeoutStopSec ({stop:g}s) must exceed drain_timeout ({drain}s)")
    required = {
        "DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "NoNewPrivileges": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": "",
        "MemoryDenyWriteExecute": "yes", "LockPersonality": "yes", "Restart": "on-failure",
        "KillSignal": "SIGTERM", "SystemCallFilter": "@system-service",
    }
    for key, value in required.items():
        if value not in s.get(key, []):
            fail(f"{path}: {key}={value} expected")
    if not any("check-config --quiet" in v for v in s.get("ExecStartPre", [])):
        fail(f"{path}: ExecStartPre must run davaudit check-config --quiet")
    if not any(v.startswith("davaudit:/etc/davaudit/credentials") for v in s.get("LoadCredential", [])):
        fail(f"{path}: LoadCredential=davaudit:/etc/davaudit/credentials (secrets are not "
             "world-readable under DynamicUser)")
    reload = s.get("ExecReload", [])
    if not any("kill -HUP $MAINPID" in v for v in reload):
        fail(f"{path}: ExecReload must send SIGHUP (davaudit reloads its config on it)")
    if not any("check-config --quiet" in v for v in reload):
        fail(f"{path}: ExecReload must check the config (--quiet) before sending SIGHUP")
    finish()
    print(f"  hardening present; TimeoutStopSec {stop:g}s > drain_timeout {drain}s")


# --------------------------------------------------------------------------- docker


def cmd_docker(_args):
    path = DEPLOY / "docker" / "Dockerfile"
    text = path.read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    froms = [ln.split()[1] for ln in lines if ln.upper().startswith("FROM ")]
    if len(froms) < 2:
        fail(f"{path}: multi-stage build expected")
    if any(":" not in f and "@" not in f for f in froms):
        fail(f"{path}: every FROM image needs a tag or digest (never implicit latest)")
    cargo = Path("Cargo.toml").read_text(encoding="utf-8")
    rust_version = re.search(r'^rust-version\s*=\s*"([^"]+)"', cargo, re.MULTILINE).group(1)
    license = re.search(r'^license\s*=\s*"([^"]+)"', cargo, re.MULTILINE).group(1)
    checks = [
        (r"cargo build --release --locked --no-default-features",
         "cargo build --release --locked --no-default-features (no demo server in the image)"),
        (rf"^FROM rust:{re.escape(rust_version)}-bookworm\b",
         f"the build stage on rust:{rust_version}-bookworm (Cargo.toml rust-version)"),
        (r"^FROM gcr\.io/distroless/cc-debian12:nonroot@sha256:[0-9a-f]{64}\s*$",
         "distroless cc nonroot final stage pinned by digest"),
        (r"^USER\s+65532:65532\s*$", "numeric USER 65532:65532 (runAsNonRoot can check it)"),
        (r"install\b[^\n]*\s-s\s|\bstrip\b", "a stripped binary (install -s or strip)"),
        (r'DAVAUDIT_REVISION="\$\{REVISION\}"', "the REVISION build argument passed to build.rs"),
        (r"^EXPOSE\s+8080\s+9207", "EXPOSE 8080 9207"),
        (r'^ENTRYPOINT \["/usr/local/bin/davaudit"\]', "exec-form ENTRYPOINT"),
        (r'^CMD \["serve", "--listen", "0\.0\.0\.0:8080", "--admin-listen", "0\.0\.0\.0:9207"\]',
         "CMD serving on all interfaces at the EXPOSEd ports"),
        (r'HEALTHCHECK\b[^\n]*\n\s*CMD \["/usr/local/bin/davaudit", "healthcheck", "--url", '
         r'"http://127\.0\.0\.1:9207/healthz"\]', "HEALTHCHECK through `davaudit healthcheck`"),
    ]
    for label in ("source", "version", "revision", "licenses", "title"):
        checks.append((rf"org\.opencontainers\.image\.{label}=", f"OCI label {label}"))
    checks.append((rf'org\.opencontainers\.image\.licenses="{re.escape(license)}"',
                   f"OCI licenses label = Cargo.toml license ({license})"))
    for pattern, what in checks:
        if not re.search(pattern, text, re.MULTILINE):
            fail(f"{path}: {what} expected")
    # Every file COPY takes from the context must pass the .dockerignore filter.
    ignore = (DEPLOY / "docker" / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    allowed = {ln[1:].rstrip("/") for ln in ignore.splitlines() if ln.startswith("!")}
    for ln in lines:
        parts = ln.split()
        if parts[0].upper() == "COPY" and not any(p.startswith("--") for p in parts[1:2]):
            for src in parts[1:-1]:
                if src.rstrip("/") not in allowed:
                    fail(f"{path}: COPY {src} is filtered out by Dockerfile.dockerignore")
    if re.search(r"^(ADD|COPY)\s+\.\s", text, re.MULTILINE) and not (
            Path(".dockerignore").exists() or (DEPLOY / "docker" / "Dockerfile.dockerignore").exists()):
        fail(f"{path}: COPY . needs a .dockerignore (target/ would be sent as context)")
    finish()
    print(f"  {len(froms)} stages, rust {rust_version}, runtime by digest, uid 65532, stripped, OCI labels")


# --------------------------------------------------------------------------- readme


def cmd_readme(_args):
    text = README.read_text(encoding="utf-8")
    files = sorted(p for p in DEPLOY.rglob("*")
                   if p.is_file() and p != README and "__pycache__" not in p.parts)
    for p in files:
        rel = p.relative_to(DEPLOY).as_posix()
        if rel not in text:
            fail(f"{README} does not mention {rel}")
    finish()
    print(f"  {len(files)} files under {DEPLOY}/ all referenced from {README}")


def cmd_readme_overlay(_args):
    """Prints the two-installs overlay from README.md (the yaml block after its marker)."""
    text = README.read_text(encoding="utf-8")
    marker = "<!-- two-installs overlay"
    if marker not in text:
        fail(f"{README}: no {marker} -->")
        finish()
    block = text.split(marker, 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    indent = min(len(l) - len(l.lstrip()) for l in lines if l.strip())
    print("\n".join(l[indent:] for l in lines))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    {"sync": cmd_sync, "rules": cmd_rules, "grafana": cmd_grafana, "k8s": cmd_k8s,
     "systemd": cmd_systemd, "docker": cmd_docker,
     "readme": cmd_readme, "readme-overlay": cmd_readme_overlay}[cmd](args)


if __name__ == "__main__":
    main()
