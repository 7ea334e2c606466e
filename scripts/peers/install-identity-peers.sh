#!/usr/bin/env bash
# Install the identity providers the test suite signs in through, on loopback only:
#   - SimpleSAMLphp 1.19 (SAML IdP) with PHP's CLI server, and xmlsec1 (pysaml2 checks signatures with it)
#   - OpenLDAP's slapd and its tools (LDAP), plus the headers python-ldap builds against
#   - panva's oidc-provider (OIDC), from scripts/peers/oidc/package-lock.json into var/peers/oidc/
# Only what is missing is installed; running it again does nothing. apt never starts the services:
# the tests start and stop their own instances (tests/peers.py).
set -euo pipefail
cd "$(dirname "$0")/../.."

APT_PACKAGES=(simplesamlphp php-cli php-xml php-mbstring xmlsec1 slapd ldap-utils libldap2-dev libsasl2-dev openssl)

SUDO=""
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "Installing the identity peers needs root (or sudo)." >&2
        exit 1
    fi
fi

missing=()
# Node may come from elsewhere than Debian (and Debian's nodejs then conflicts): only ask apt when it is absent.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi
for package in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if ((${#missing[@]})); then
    echo "Installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "identity peers: Debian packages already installed"
fi

# The OIDC provider: installed from the committed lock file, again only when it changed.
OIDC_SRC=scripts/peers/oidc
OIDC_DIR=var/peers/oidc
mkdir -p "$OIDC_DIR"
if [[ ! -d "$OIDC_DIR/node_modules/oidc-provider" ]] || ! cmp -s "$OIDC_SRC/package-lock.json" "$OIDC_DIR/package-lock.json"; then
    cp "$OIDC_SRC/package.json" "$OIDC_SRC/package-lock.json" "$OIDC_DIR/"
    (cd "$OIDC_DIR" && npm ci --no-audit --no-fund --loglevel=error)
else
    echo "identity peers: oidc-provider already installed"
fi
