"""Mutual TLS: the connector verifies the record system against the configured CA and
proves itself with its client certificate; without it, the system refuses the connection.
The CA and certificates are made for the test (throwaway keys, in tmp_path)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hotline.records.http import HttpConnector, HttpSecrets, HttpSettings

from .server import RecordSystem, running
from .test_http_connector import case, settings

KEY_PASSWORD = "throwaway-key-password"
START = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path  # encrypted with KEY_PASSWORD


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(
    cn: str, key: ec.EllipticCurvePrivateKey, ca_key: ec.EllipticCurvePrivateKey,
    issuer: str, *, ca: bool = False, server: bool = False,
) -> x509.Certificate:  # fmt: skip
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        b = b.add_extension(usage, critical=True)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    else:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_key.public_key()), critical=False)  # fmt: skip
        eku = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    if server:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        b = b.add_extension(san, critical=False)
    return b.sign(ca_key, hashes.SHA256())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, password: str | None) -> None:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8, encryption))  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _issue("Test Records CA", ca_key, ca_key, "Test Records CA", ca=True)
    files = Pki(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem",
                d / "client.key")  # fmt: skip
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for cert, path in (
        (_issue("127.0.0.1", server_key, ca_key, "Test Records CA", server=True),
         files.server_cert),
        (_issue("hotline-test-client", client_key, ca_key, "Test Records CA"), files.client_cert),
    ):  # fmt: skip
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(files.server_key, server_key, None)
    _write_key(files.client_key, client_key, KEY_PASSWORD)
    return files


@pytest.fixture
def tls_system(pki: Pki) -> Iterator[RecordSystem]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.load_verify_locations(pki.ca)
    context.verify_mode = ssl.CERT_REQUIRED  # a client without a certificate is refused
    with running(context) as system:
        yield system


def https(system: RecordSystem, tls: dict[str, object]) -> HttpSettings:
    return settings(system.url.replace("http://", "https://"), tls=tls,
                    retry={"attempts": 1})  # fmt: skip


def test_a_client_with_its_certificate_gets_the_record(tls_system, pki):
    c = HttpConnector(
        settings=https(tls_system, {"ca_bundle": pki.ca, "client_cert": pki.client_cert,
                                    "client_key": pki.client_key,
                                    "client_key_password_env": "RECORDS_KEY_PASSWORD"}),
        secrets=HttpSecrets(key_password=KEY_PASSWORD),
    )  # fmt: skip
    result = c.lookup(case())
    assert result.status == "found"
    assert result.data["case_id"] == "HC-104233"
    assert len(tls_system.seen) == 1


def test_a_client_without_its_certificate_is_refused(tls_system, pki):
    c = HttpConnector(settings=https(tls_system, {"ca_bundle": pki.ca}))
    result = c.lookup(case())
    assert result.status == "error"
    assert tls_system.seen == []  # the system never handled the request


def test_a_system_whose_certificate_the_ca_bundle_does_not_vouch_for_is_refused(tls_system, pki):
    c = HttpConnector(  # no ca_bundle: the system's certificate is checked against the defaults
        settings=https(tls_system, {"client_cert": pki.client_cert, "client_key": pki.client_key,
                                    "client_key_password_env": "RECORDS_KEY_PASSWORD"}),
        secrets=HttpSecrets(key_password=KEY_PASSWORD),
    )  # fmt: skip
    result = c.lookup(case())
    assert result.data["reason"] == (
        "the TLS handshake with the record system failed (check ca_bundle and the client "
        "certificate)"
    )
    assert tls_system.seen == []
