#!/usr/bin/env bash
# The Debian packages the Python requirements need before pip runs: python-ldap compiles against
# OpenLDAP's and SASL's headers, and pysaml2 checks XML signatures with xmlsec1. Only what is missing
# is installed, so running it again does nothing.
set -euo pipefail

PACKAGES=(libldap2-dev libsasl2-dev xmlsec1)

missing=()
for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if ((${#missing[@]} == 0)); then
    exit 0
fi

SUDO=""
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "Installing ${missing[*]} needs root (or sudo)." >&2
        exit 1
    fi
fi
echo "Installing build dependencies: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
