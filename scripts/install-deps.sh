#!/usr/bin/env bash
# Installs the Debian packages kiln's tests need, and nothing when they are all present.
# Safe to run again and again: it asks apt only about what is missing.
set -euo pipefail

# Why each package is here:
#   skopeo umoci runc  oracles: inspect/copy images, unpack layouts, run rootfs bundles
#   docker-registry    a real registry (CNCF distribution 2.8) on loopback for push/pull tests
#   busybox-static     the static binary the busybox and node test base images are made from
#   uidmap             newuidmap/newgidmap for rootless user namespaces
#   pigz zstd gzip tar layer compression and GNU tar, which writes the fixture layers
#   apache2-utils      htpasswd, for registries with basic auth
#   openssl            self-signed certificates for TLS registry tests
#   attr libcap2-bin   getfattr/setfattr and setcap/getcap, to check xattrs and capabilities
#   ca-certificates    the CA bundle copied into the node test image
#   passwd util-linux  useradd for the unprivileged test user; unshare
#   strace             tells which programs a build ran (a cached build must run none)
PACKAGES=(
  skopeo umoci runc docker-registry busybox-static uidmap pigz zstd gzip tar
  apache2-utils openssl attr libcap2-bin ca-certificates passwd util-linux strace
)
# openssh-client     ssh-agent, ssh-add and ssh-keygen for the RUN --mount=type=ssh tests
PACKAGES+=(openssh-client)
# tinyproxy          a real HTTP proxy (absolute-form and CONNECT) for the proxy tests
PACKAGES+=(tinyproxy)

# shellcheck source=lib/apt-install.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt-install.sh"
apt_install_missing install-deps "run this script as root (or: sudo apt-get install the packages above)" \
  "${PACKAGES[@]}"
