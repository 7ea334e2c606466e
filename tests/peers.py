"""Real identity providers on loopback, one per test session: SimpleSAMLphp, panva's oidc-provider, slapd.

`scripts/peers/install-identity-peers.sh` installs them (`make test` runs it first). Each fixture picks a free
port, writes its configuration, keys, certificates and passwords into a temporary folder (generated now,
never committed), starts the server and stops it at the end. A missing peer fails the tests that need it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
SIMPLESAMLPHP_WWW = Path("/usr/share/simplesamlphp/www")
OIDC_PROVIDER_MODULES = ROOT / "var" / "peers" / "oidc" / "node_modules"
INSTALL_HINT = "run scripts/peers/install-identity-peers.sh (make test does)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], name: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            pytest.fail(f"{name} exited with {process.returncode}:\n{output[-2000:]}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"{name} did not listen on 127.0.0.1:{port} within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def require(path: Path | str, what: str) -> None:
    if not Path(path).exists() and shutil.which(str(path)) is None:
        pytest.fail(f"{what} is missing ({path}); {INSTALL_HINT}.")


def self_signed_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    key, cert = folder / f"{name}.pem", folder / f"{name}.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


class HtmlForm:
    def __init__(self, action: str, method: str) -> None:
        self.action = action
        self.method = method
        self.fields: dict[str, str] = {}


def html_forms(markup: str) -> list[HtmlForm]:
    """The forms of a page with their inputs' names and values (enough to post what a browser would)."""
    from html.parser import HTMLParser

    forms: list[HtmlForm] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = {k: v or "" for k, v in attrs}
            if tag == "form":
                forms.append(HtmlForm(values.get("action", ""), values.get("method", "get").lower()))
            elif tag in ("input", "button") and forms and values.get("name"):
                if values.get("type") in ("submit", "button") and tag == "button":
                    return
                forms[-1].fields.setdefault(values["name"], values.get("value", ""))

    Parser().feed(markup)
    return forms


def php_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def php_value(value: Any) -> str:
    if isinstance(value, dict):
        return "[" + ", ".join(f"{php_string(k)} => {php_value(v)}" for k, v in value.items()) + "]"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(php_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return php_string(str(value))


# -- SAML: SimpleSAMLphp -----------------------------------------------------------------------------------------


@dataclass
class SamlPerson:
    username: str
    password: str
    attributes: dict[str, list[str]]


@dataclass
class SamlIdp:
    base_url: str
    folder: Path
    people: dict[str, SamlPerson]
    service_providers: dict[str, str] = field(default_factory=dict)

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/saml2/idp/metadata.php"

    def metadata_xml(self) -> str:
        response = requests.get(self.metadata_url, timeout=10)
        response.raise_for_status()
        return response.text

    def register_sp(self, entity_id: str, acs_url: str) -> None:
        """Tell the IdP about one of our per-organization service providers (read by PHP at each request)."""
        self.service_providers[entity_id] = acs_url
        entries = "\n".join(
            f"$metadata[{php_string(entity)}] = ['AssertionConsumerService' => {php_string(acs)}, "
            "'saml20.sign.assertion' => true, 'saml20.sign.response' => false];"
            for entity, acs in self.service_providers.items()
        )
        path = self.folder / "metadata" / "saml20-sp-remote.php"
        path.write_text(f"<?php\n{entries}\n")

    def sign_in(self, session: requests.Session, redirect_url: str, username: str) -> dict[str, str]:
        """Follow the SP's redirect to the IdP, post the person's credentials, return the form it posts back.

        The returned dict holds `action` (our ACS URL), `SAMLResponse` and `RelayState`.
        """
        from urllib.parse import urljoin

        page = session.get(redirect_url, timeout=10)
        page.raise_for_status()
        login = next((f for f in html_forms(page.text) if "username" in f.fields), None)
        if login is None:
            raise AssertionError(f"The IdP showed no login form at {page.url}")
        person = self.people[username]
        fields = {**login.fields, "username": person.username, "password": person.password}
        answer = session.post(urljoin(page.url, login.action or page.url), data=fields, timeout=10)
        answer.raise_for_status()
        posted = next((f for f in html_forms(answer.text) if "SAMLResponse" in f.fields), None)
        if posted is None:
            raise AssertionError(f"The IdP answered no SAML response: {answer.text[:500]}")
        return {"action": posted.action, **posted.fields}


@pytest.fixture(scope="session")
def saml_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamlIdp]:
    require(SIMPLESAMLPHP_WWW, "SimpleSAMLphp")
    require("php", "PHP")
    require("xmlsec1", "xmlsec1")
    folder = tmp_path_factory.mktemp("simplesamlphp")
    for name in ("config", "metadata", "cert", "tmp", "log", "sessions"):
        (folder / name).mkdir()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    key, cert = self_signed_certificate(folder / "cert", "idp")
    people = {
        "ada": SamlPerson(
            "ada",
            secrets.token_urlsafe(12),
            {
                "mail": ["ada@acme.test"],
                "givenName": ["Ada"],
                "sn": ["Lovelace"],
                "memberOf": ["engineering", "platform-admins"],
            },
        ),
        "bob": SamlPerson("bob", secrets.token_urlsafe(12), {"mail": ["bob@acme.test"], "givenName": ["Bob"]}),
        "mallory": SamlPerson("mallory", secrets.token_urlsafe(12), {"mail": ["mallory@elsewhere.test"]}),
    }
    (folder / "config" / "config.php").write_text(
        textwrap.dedent(
            f"""\
            <?php
            include '/etc/simplesamlphp/config.php';
            $config['baseurlpath'] = {php_string(base_url + "/")};
            $config['certdir'] = {php_string(str(folder / "cert") + "/")};
            $config['metadatadir'] = {php_string(str(folder / "metadata") + "/")};
            $config['tempdir'] = {php_string(str(folder / "tmp"))};
            $config['loggingdir'] = {php_string(str(folder / "log") + "/")};
            $config['logging.handler'] = 'file';
            $config['logging.level'] = SimpleSAML\\Logger::WARNING;
            $config['secretsalt'] = {php_string(secrets.token_hex(16))};
            $config['auth.adminpassword'] = {php_string(secrets.token_urlsafe(16))};
            $config['enable.saml20-idp'] = true;
            $config['module.enable'] = ['exampleauth' => true, 'core' => true, 'saml' => true];
            $config['session.cookie.secure'] = false;
            $config['session.cookie.samesite'] = null;
            $config['session.phpsession.savepath'] = {php_string(str(folder / "sessions"))};
            $config['timezone'] = 'UTC';
            """
        )
    )
    users = {f"{p.username}:{p.password}": p.attributes for p in people.values()}
    (folder / "config" / "authsources.php").write_text(
        "<?php\n$config = [\n  'admin' => ['core:AdminPassword'],\n"
        f"  'people' => array_merge(['exampleauth:UserPass'], {php_value(users)}),\n];\n"
    )
    (folder / "metadata" / "saml20-idp-hosted.php").write_text(
        "<?php\n$metadata['__DYNAMIC:1__'] = "
        + php_value({"host": "__DEFAULT__", "privatekey": key.name, "certificate": cert.name, "auth": "people"})
        + ";\n"
    )
    idp = SamlIdp(base_url=base_url, folder=folder, people=people)
    idp.register_sp("urn:nofx:placeholder", "http://127.0.0.1/none")
    env = {**os.environ, "SIMPLESAMLPHP_CONFIG_DIR": str(folder / "config")}
    process = subprocess.Popen(
        ["php", "-S", f"127.0.0.1:{port}", "-t", str(SIMPLESAMLPHP_WWW)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process, "SimpleSAMLphp")
        yield idp
    finally:
        stop(process)


# -- OIDC: panva's oidc-provider ----------------------------------------------------------------------------------

OIDC_SERVER_SCRIPT = ROOT / "scripts" / "peers" / "oidc" / "server.mjs"


@dataclass
class OidcProvider:
    issuer: str
    client_id: str
    client_secret: str
    accounts: dict[str, dict[str, Any]]

    def sign_in(self, authorize_url: str, login: str, stop_at: str) -> str:
        """Walk the provider's login and consent forms as a browser would; return the redirect back to us.

        Redirects are followed by hand up to the first one that leaves for `stop_at` (our callback).
        """
        from urllib.parse import urljoin

        session = requests.Session()
        url, method, data = authorize_url, "get", None
        for _ in range(20):
            response = session.request(method, url, data=data, allow_redirects=False, timeout=10)
            if response.is_redirect:
                location = urljoin(url, response.headers["Location"])
                if location.startswith(stop_at):
                    return location
                url, method, data = location, "get", None
                continue
            forms = html_forms(response.text)
            if response.status_code != 200 or not forms:
                raise AssertionError(f"The OIDC provider answered {response.status_code}: {response.text[:500]}")
            form = forms[0]
            data = dict(form.fields)
            if "login" in data:
                data.update(login=login, password="any")
            url, method = urljoin(url, form.action), form.method or "post"
        raise AssertionError("The OIDC provider never redirected back.")


OIDC_CLIENT_REDIRECTS = ["http://testserver/accounts/oidc/org-acme-oidc/login/callback/"]


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    require("node", "Node.js")
    if not (OIDC_PROVIDER_MODULES / "oidc-provider").exists():
        pytest.fail(f"oidc-provider is not installed in {OIDC_PROVIDER_MODULES}; {INSTALL_HINT}.")
    folder = tmp_path_factory.mktemp("oidc-provider")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    client_id, client_secret = "nofx-" + secrets.token_hex(4), secrets.token_urlsafe(24)
    accounts = {
        "grace": {"email": "grace@acme-oidc.test", "email_verified": True, "name": "Grace Hopper", "groups": ["eng"]},
        "unverified": {"email": "nobody@acme-oidc.test", "email_verified": False, "name": "No Body"},
    }
    config = {
        "issuer": issuer,
        "port": port,
        "cookieKeys": [secrets.token_urlsafe(32)],
        "accounts": accounts,
        "clients": [
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uris": OIDC_CLIENT_REDIRECTS,
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_post",
            }
        ],
    }
    # The script imports oidc-provider from the project-local node_modules next to it.
    script = folder / "server.mjs"
    shutil.copy(OIDC_SERVER_SCRIPT, script)
    (folder / "node_modules").symlink_to(OIDC_PROVIDER_MODULES)
    process = subprocess.Popen(
        ["node", str(script)],
        cwd=folder,
        env={**os.environ, "OIDC_PEER_CONFIG": json.dumps(config), "NODE_ENV": "test"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process, "oidc-provider")
        yield OidcProvider(issuer=issuer, client_id=client_id, client_secret=client_secret, accounts=accounts)
    finally:
        stop(process)


# -- LDAP: OpenLDAP slapd ------------------------------------------------------------------------------------------

LDAP_BASE = "dc=acme,dc=test"


@dataclass
class LdapServer:
    uri: str
    base: str
    passwords: dict[str, str]


@pytest.fixture(scope="session")
def ldap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapServer]:
    for tool in ("/usr/sbin/slapd", "/usr/sbin/slapadd", "/usr/sbin/slappasswd"):
        require(tool, "OpenLDAP")
    folder = tmp_path_factory.mktemp("slapd")
    (folder / "data").mkdir()
    port = free_port()
    root_password = secrets.token_urlsafe(16)
    root_hash = subprocess.run(
        ["/usr/sbin/slappasswd", "-s", root_password], check=True, capture_output=True, text=True
    ).stdout.strip()
    (folder / "slapd.conf").write_text(
        textwrap.dedent(
            f"""\
            include /etc/ldap/schema/core.schema
            include /etc/ldap/schema/cosine.schema
            include /etc/ldap/schema/nis.schema
            include /etc/ldap/schema/inetorgperson.schema
            pidfile {folder}/slapd.pid
            modulepath /usr/lib/ldap
            moduleload back_mdb
            database mdb
            maxsize 10485760
            suffix "{LDAP_BASE}"
            rootdn "cn=admin,{LDAP_BASE}"
            rootpw {root_hash}
            directory {folder}/data
            access to attrs=userPassword by self read by anonymous auth by * none
            access to * by * read
            """
        )
    )
    passwords = {"lin": secrets.token_urlsafe(12), "kim": secrets.token_urlsafe(12)}
    people = {"lin": ("Lin Admin", "lin@acme.test"), "kim": ("Kim Viewer", "kim@acme.test")}
    entries = [
        f"dn: {LDAP_BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Acme\ndc: acme",
        f"dn: ou=people,{LDAP_BASE}\nobjectClass: organizationalUnit\nou: people",
        f"dn: ou=groups,{LDAP_BASE}\nobjectClass: organizationalUnit\nou: groups",
    ]
    for uid, (name, mail) in people.items():
        entries.append(
            f"dn: uid={uid},ou=people,{LDAP_BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\n"
            f"sn: {name.split()[-1]}\nmail: {mail}\nuserPassword: {passwords[uid]}"
        )
    entries.append(
        f"dn: cn=admins,ou=groups,{LDAP_BASE}\nobjectClass: groupOfNames\ncn: admins\n"
        f"member: uid=lin,ou=people,{LDAP_BASE}"
    )
    (folder / "base.ldif").write_text("\n\n".join(entries) + "\n")
    subprocess.run(
        ["/usr/sbin/slapadd", "-f", str(folder / "slapd.conf"), "-l", str(folder / "base.ldif")],
        check=True,
        capture_output=True,
    )
    # -d 0 keeps slapd in the foreground, so the fixture owns the process.
    process = subprocess.Popen(
        ["/usr/sbin/slapd", "-d", "0", "-f", str(folder / "slapd.conf"), "-h", f"ldap://127.0.0.1:{port}/"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process, "slapd")
        yield LdapServer(uri=f"ldap://127.0.0.1:{port}", base=LDAP_BASE, passwords=passwords)
    finally:
        stop(process)
