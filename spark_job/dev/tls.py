"""A self-signed certificate for ``localhost`` and a Java trust store holding it (development only).

The spark-bigquery connector always speaks TLS to the BigQuery Storage gRPC endpoint, while
bqemulator serves plaintext: the emulators add a TLS port with this certificate, and the JVMs
of a job trust it through ``-Djavax.net.ssl.trustStore`` (see ``spark_job/run/session.py``).
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

TRUSTSTORE_PASSWORD = "changeit"


@dataclass(frozen=True)
class LocalCertificate:
    certificate: Path  # PEM
    private_key: Path  # PEM, unencrypted
    truststore: Path  # PKCS12, password TRUSTSTORE_PASSWORD

    @property
    def pem_bytes(self) -> bytes:
        return self.certificate.read_bytes()


def make_certificate(directory: Path, days: int = 7) -> LocalCertificate:
    """Write a key, a certificate for localhost/127.0.0.1 and a trust store under ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "localhost.crt"
    key_path = directory / "localhost.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    truststore = directory / "truststore.p12"
    truststore.unlink(missing_ok=True)
    keytool = shutil.which("keytool") or "keytool"
    subprocess.run(
        [
            keytool, "-importcert", "-noprompt", "-alias", "spark-job-emulators",
            "-file", str(cert_path), "-keystore", str(truststore),
            "-storetype", "PKCS12", "-storepass", TRUSTSTORE_PASSWORD,
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return LocalCertificate(cert_path, key_path, truststore)
