#!/usr/bin/env bash
# The webhook in one minute, against a server started by `make run` (needs only curl, python3
# and base64). Idempotent: re-running it updates the stream and admits the Pod again.
#
#   1. reads the server, token and CA from <data-dir>/kubeconfig;
#   2. creates (or updates) the ImageStream `mysql` with spec.lookupPolicy.local=true;
#   3. writes an "imported" status tag through /status, as the importer would;
#   4. sends a Pod with `image: mysql` to /mutate and prints the decoded JSON Patch.
#
# Environment: DATA_DIR (default .data), DEMO_NAMESPACE (default demo).
set -euo pipefail

DATA_DIR="${DATA_DIR:-.data}"
NAMESPACE="${DEMO_NAMESPACE:-demo}"
KUBECONFIG_FILE="$DATA_DIR/kubeconfig"
# An illustrative digest: what an import of docker.io/library/mysql:8.4 would have recorded.
DIGEST="sha256:6b9e4d1a8c2f3e5d7a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f"

die() { echo "demo: $*" >&2; exit 1; }

[[ -f "$KUBECONFIG_FILE" ]] || die "$KUBECONFIG_FILE not found: start the server first with 'make run'"
for tool in curl python3 base64; do
    command -v "$tool" >/dev/null || die "$tool is required"
done

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The kubeconfig `serve` writes is fixed-shape YAML: read the three values line by line.
read_kubeconfig() {
    python3 - "$KUBECONFIG_FILE" "$1" <<'EOF'
import sys
path, key = sys.argv[1], sys.argv[2]
for line in open(path):
    name, _, value = line.strip().partition(": ")
    if name.lstrip("- ") == key:
        print(value.strip())
        break
else:
    sys.exit(f"{key} not found in {path}")
EOF
}

SERVER="$(read_kubeconfig server)"
TOKEN="$(read_kubeconfig token)"
read_kubeconfig certificate-authority-data | base64 -d > "$WORK/ca.crt"
curl -sS --cacert "$WORK/ca.crt" -o /dev/null "$SERVER/healthz" 2>/dev/null \
    || die "cannot reach $SERVER: is 'make run' still running?"

# api METHOD PATH [CONTENT-TYPE BODY]: prints the body to $WORK/out, returns the HTTP code.
api() {
    local method="$1" path="$2" type="${3:-application/json}" body="${4:-}"
    local args=(-sS --cacert "$WORK/ca.crt" -X "$method" -H "Authorization: Bearer $TOKEN"
        -H "Accept: application/json" -o "$WORK/out" -w '%{http_code}')
    [[ -n "$body" ]] && args+=(-H "Content-Type: $type" --data-binary "$body")
    curl "${args[@]}" "$SERVER$path"
}

expect() {
    local code="$1" wanted="$2" what="$3"
    [[ " $wanted " == *" $code "* ]] || die "$what failed with HTTP $code: $(cat "$WORK/out")"
}

STREAMS="/apis/image.openshift.io/v1/namespaces/$NAMESPACE/imagestreams"
SPEC='{"lookupPolicy": {"local": true}, "tags": [{"name": "latest",
  "from": {"kind": "DockerImage", "name": "docker.io/library/mysql:8.4"},
  "referencePolicy": {"type": "Source"}}]}'

echo "==> ImageStream $NAMESPACE/mysql with lookupPolicy.local=true"
code="$(api POST "$STREAMS" application/json \
    "{\"apiVersion\": \"image.openshift.io/v1\", \"kind\": \"ImageStream\",
      \"metadata\": {\"name\": \"mysql\"}, \"spec\": $SPEC}")"
if [[ "$code" == 409 ]]; then
    code="$(api PATCH "$STREAMS/mysql" application/merge-patch+json "{\"spec\": $SPEC}")"
    expect "$code" 200 "updating the stream"
    echo "    already there: spec updated"
else
    expect "$code" 201 "creating the stream"
    echo "    created"
fi

echo "==> status tag latest -> $DIGEST (as an import would write it)"
STATUS="{\"status\": {\"tags\": [{\"tag\": \"latest\", \"items\": [{
  \"created\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",
  \"dockerImageReference\": \"docker.io/library/mysql@$DIGEST\",
  \"image\": \"$DIGEST\", \"generation\": 0}]}]}}"
code="$(api PATCH "$STREAMS/mysql/status" application/merge-patch+json "$STATUS")"
expect "$code" 200 "writing the status"

echo "==> AdmissionReview: Pod $NAMESPACE/web with image: mysql"
UID_="demo-$(date +%s)"
REVIEW="{\"apiVersion\": \"admission.k8s.io/v1\", \"kind\": \"AdmissionReview\",
  \"request\": {\"uid\": \"$UID_\",
    \"kind\": {\"group\": \"\", \"version\": \"v1\", \"kind\": \"Pod\"},
    \"resource\": {\"group\": \"\", \"version\": \"v1\", \"resource\": \"pods\"},
    \"namespace\": \"$NAMESPACE\", \"name\": \"web\", \"operation\": \"CREATE\",
    \"object\": {\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"web\"},
      \"spec\": {\"containers\": [{\"name\": \"db\", \"image\": \"mysql\"}]}}}}"
code="$(curl -sS --cacert "$WORK/ca.crt" -o "$WORK/out" -w '%{http_code}' \
    -H "Content-Type: application/json" --data-binary "$REVIEW" "$SERVER/mutate")"
expect "$code" 200 "the admission request"

python3 - "$WORK/out" "$DIGEST" <<'EOF'
import base64, json, sys
review = json.load(open(sys.argv[1]))["response"]
print(f"    allowed: {review['allowed']}")
for warning in review.get("warnings", []):
    print(f"    warning: {warning}")
if "patch" not in review:
    sys.exit("demo: the webhook returned no patch: " + json.dumps(review))
patch = json.loads(base64.b64decode(review["patch"]))
print("==> JSON Patch (decoded):")
print(json.dumps(patch, indent=2))
audit = review.get("auditAnnotations", {}).get("rewrites")
if audit:
    for rewrite in json.loads(audit):
        print(f"==> {rewrite['path']}: {rewrite['from']} -> {rewrite['to']}")
if not any(sys.argv[2] in json.dumps(op.get("value")) for op in patch):
    sys.exit("demo: the patch does not pin the imported digest")
EOF
