#!/usr/bin/env bash
# Install clawnode on a VPS and start it as a systemd service.
#
#   install-clawnode.sh --gateway wss://ops.example.com:18789/ --bootstrap-token TOKEN \
#       --hostname vps-042 --account acct-042 --instance inst-042 \
#       [--provider hetzner --region eu-hetzner-nbg1 --tier standard --role primary] \
#       [--package clawops==0.1.0 | --package /path/to/clawops.whl] [--token SHARED_TOKEN] \
#       [--tls-fingerprint SHA256_HEX]      # pin the gateway's certificate (wss:// only)
#   install-clawnode.sh --config-file /etc/clawnode/config.json     # config already written (cloud-init,
#                                                                   # see node.cloudinit.render_cloud_init)
#
# For servers ClawOps provisions, the cloud-init it renders (node/cloudinit.py) installs clawnode by itself;
# this script is for installing by hand with a single-use bootstrap token the engine issued for the instance
# (NodeGateway.issue_bootstrap_token).  After the first connect the node keeps the device token the gateway
# issued in /var/lib/clawnode/state.json (mode 0600) and the bootstrap token is spent.
# Idempotent: re-running updates the package and config and restarts the service.
set -euo pipefail

CONFIG_FILE="" GATEWAY="" TOKEN="" BOOTSTRAP="" HOSTNAME_="$(hostname)" ACCOUNT="" INSTANCE="" PROVIDER="" REGION="" TIER="" ROLE="" PIN=""
PACKAGE="clawops"
PREFIX=/opt/clawnode
UNIT_SRC="$(cd "$(dirname "$0")" && pwd)/clawnode.service"

die() { echo "install-clawnode: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --config-file) CONFIG_FILE="$2"; shift 2 ;;
        --gateway) GATEWAY="$2"; shift 2 ;;
        --token) TOKEN="$2"; shift 2 ;;
        --bootstrap-token) BOOTSTRAP="$2"; shift 2 ;;
        --hostname) HOSTNAME_="$2"; shift 2 ;;
        --account) ACCOUNT="$2"; shift 2 ;;
        --instance) INSTANCE="$2"; shift 2 ;;
        --provider) PROVIDER="$2"; shift 2 ;;
        --region) REGION="$2"; shift 2 ;;
        --tier) TIER="$2"; shift 2 ;;
        --role) ROLE="$2"; shift 2 ;;
        --tls-fingerprint) PIN="$2"; shift 2 ;;
        --package) PACKAGE="$2"; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "run as root (clawnode manages system services)"
if [ -n "$CONFIG_FILE" ]; then
    [ -f "$CONFIG_FILE" ] || die "--config-file $CONFIG_FILE does not exist"
else
    case "$GATEWAY" in ws://*|wss://*) ;; *) die "--gateway must be a ws:// or wss:// URL" ;; esac
    [ -n "$TOKEN$BOOTSTRAP" ] || die "give --bootstrap-token (from cloud-init) or --token"
fi
command -v python3 >/dev/null || die "python3 is required (3.11 or newer)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "python3 >= 3.11 is required"

python3 -m venv "$PREFIX/venv" 2>/dev/null || die "python3 -m venv failed; install the python3-venv package"
"$PREFIX/venv/bin/pip" install --quiet --upgrade pip
# clawnode's own runtime needs only websockets + cryptography; the clawops distribution brings it.
"$PREFIX/venv/bin/pip" install --quiet --upgrade "$PACKAGE"
[ -x "$PREFIX/venv/bin/clawnode" ] || die "the package did not install the clawnode command"

install -d -m 0700 /etc/clawnode /var/lib/clawnode
umask 077
if [ -n "$CONFIG_FILE" ]; then
    [ "$(realpath "$CONFIG_FILE")" = /etc/clawnode/config.json ] || install -m 0600 "$CONFIG_FILE" /etc/clawnode/config.json
    chmod 0600 /etc/clawnode/config.json
else
# JSON written by Python so no value can break the quoting.
GATEWAY="$GATEWAY" TOKEN="$TOKEN" BOOTSTRAP="$BOOTSTRAP" HOSTNAME_="$HOSTNAME_" ACCOUNT="$ACCOUNT" \
INSTANCE="$INSTANCE" PROVIDER="$PROVIDER" REGION="$REGION" TIER="$TIER" ROLE="$ROLE" PIN="$PIN" \
python3 - > /etc/clawnode/config.json.tmp <<'PY'
import json, os
e = os.environ
cfg = {"gateway": e["GATEWAY"], "hostname": e["HOSTNAME_"], "state_path": "/var/lib/clawnode/state.json"}
for key, var in [("token", "TOKEN"), ("bootstrap_token", "BOOTSTRAP"), ("account_id", "ACCOUNT"),
                 ("instance_id", "INSTANCE"), ("provider", "PROVIDER"), ("region", "REGION"),
                 ("tier", "TIER"), ("role", "ROLE"), ("tls_fingerprint", "PIN")]:
    if e.get(var):
        cfg[key] = e[var]
print(json.dumps(cfg, indent=2))
PY
mv /etc/clawnode/config.json.tmp /etc/clawnode/config.json
chmod 0600 /etc/clawnode/config.json
fi
"$PREFIX/venv/bin/python" -c 'import sys; from node.config import NodeConfig; NodeConfig.load(sys.argv[1])' \
    /etc/clawnode/config.json || die "/etc/clawnode/config.json is not a valid clawnode config"

# Create the identity before the service starts, so exactly one key is ever generated.
echo "clawnode device identity:"
"$PREFIX/venv/bin/clawnode" identity --config /etc/clawnode/config.json

[ -f "$UNIT_SRC" ] || die "clawnode.service must sit next to this script ($UNIT_SRC)"
install -m 0644 "$UNIT_SRC" /etc/systemd/system/clawnode.service
systemctl daemon-reload
systemctl enable --quiet clawnode.service
systemctl restart clawnode.service
echo "clawnode installed and running (journalctl -u clawnode -f)"
