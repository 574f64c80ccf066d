#!/usr/bin/env bash
# The packaging tier's Debian packages (Debian 12, as root), installed when missing:
# podman with runc and netavark (+ iptables, which netavark drives; catatonit, from which
# podman builds the pod's infra image locally), mmdebstrap for the base image and the
# machine's tree, systemd-container for systemd-nspawn.
set -euo pipefail
packages=(podman runc netavark aardvark-dns iptables catatonit mmdebstrap systemd-container)
missing=()
for package in "${packages[@]}"; do
  dpkg-query --show --showformat='${db:Status-Status}' "$package" 2>/dev/null \
    | grep -qx installed || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "provision.sh: missing ${missing[*]}; installing them needs root and apt-get" >&2
  exit 1
fi
echo "provision.sh: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
  >/dev/null
