#!/usr/bin/env bash
# Install clawnode on a VPS as the systemd service `clawnode`, paired with a single-use bootstrap token.
#
#   install-clawnode.sh --gateway wss://ops.example.com:18789/ --bootstrap-token TOKEN \
#       --instance i-acct-042-p --account acct-042 \
#       [--hostname vps-042 --provider hetzner --region eu-hetzner-nbg1 --tier standard --role primary] \
#       [--package clawops==0.1.0 | --package /path/to/clawops.whl] [--token SHARED_TOKEN] \
#       [--tls-fingerprint SHA256_HEX]      # pin the gateway's certificate (wss:// only)
#
# Or, without this file, the same in one line (what it does):
#   sudo sh -c 'python3 -m venv /opt/clawnode/venv && /opt/clawnode/venv/bin/pip install -q clawops &&
#     /opt/clawnode/venv/bin/clawnode install --gateway wss://ENGINE:18789/ --bootstrap-token TOKEN
#     --instance INSTANCE --account ACCOUNT'
#
# It makes a venv in /opt/clawnode, pip-installs the package, then runs `clawnode install`, which writes
# /etc/clawnode/config.json (0600), creates the device identity in /var/lib/clawnode/state.json (0600),
# installs the packaged systemd unit (`clawnode unit` prints it) and starts the service.  On its first
# connect the node pairs with the bootstrap token (single use) and keeps the device token it is issued.
# Servers ClawOps provisions get the same through cloud-init (node/cloudinit.py); this is the by-hand road.
# Idempotent: re-running updates the package and config and restarts the service (the identity is kept).
set -euo pipefail

PACKAGE="clawops"
PREFIX=/opt/clawnode
ARGS=()

die() { echo "install-clawnode: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --package) [ $# -ge 2 ] || die "--package needs a value"; PACKAGE="$2"; shift 2 ;;
        --gateway|--token|--bootstrap-token|--hostname|--account|--instance|--provider|--region|--tier|--role|--tls-fingerprint)
            [ $# -ge 2 ] || die "$1 needs a value"; ARGS+=("$1" "$2"); shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "run as root (clawnode manages system services)"
command -v python3 >/dev/null || die "python3 is required (3.11 or newer)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "python3 >= 3.11 is required"

python3 -m venv "$PREFIX/venv" 2>/dev/null || die "python3 -m venv failed; install the python3-venv package"
"$PREFIX/venv/bin/pip" install --quiet --upgrade pip
"$PREFIX/venv/bin/pip" install --quiet --upgrade "$PACKAGE"
[ -x "$PREFIX/venv/bin/clawnode" ] || die "the package did not install the clawnode command"
exec "$PREFIX/venv/bin/clawnode" install "${ARGS[@]}"
