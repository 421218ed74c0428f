# Sourced by the install scripts: installs the Debian packages that are missing, quietly, running
# `apt-get update` only when something must be installed.
# Usage: apt_install_missing NAME NOT_ROOT_HINT PACKAGE...
apt_install_missing() {
  local name=$1 hint=$2
  shift 2
  local missing=() pkg status
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "installed" ]] || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "$name: all $# packages present"
    return 0
  fi
  if [[ $(id -u) -ne 0 ]]; then
    echo "$name: missing Debian packages: ${missing[*]}" >&2
    echo "$name: $hint" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "$name: installing ${missing[*]}"
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "$name: installed ${missing[*]}"
}
