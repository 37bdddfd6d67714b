"""Throwaway certificate authorities and certificates for the security tests, made with openssl.

``TestCa.create(directory, name)`` writes a self-signed CA (``<name>-ca.crt``/``.key``);
``ca.issue(...)`` signs a server or client certificate with the given subject alternative
names. Keys are RSA 2048, unencrypted, mode 0600.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is needed to create the test CA (Debian package openssl)")
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{done.stderr}")


@dataclass(frozen=True)
class IssuedCert:
    cert: Path
    key: Path


@dataclass(frozen=True)
class TestCa:
    """A self-signed CA that signs certificates for the tests."""

    __test__ = False  # not a test class, whatever its name says

    directory: Path
    name: str

    @property
    def cert(self) -> Path:
        return self.directory / f"{self.name}-ca.crt"

    @property
    def key(self) -> Path:
        return self.directory / f"{self.name}-ca.key"

    @classmethod
    def create(cls, directory: Path, name: str) -> TestCa:
        directory.mkdir(parents=True, exist_ok=True)
        ca = cls(directory, name)
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30",
            "-subj", f"/CN=onex {name} test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", ca.key.name, "-out", ca.cert.name,
            cwd=directory,
        )  # fmt: skip
        ca.key.chmod(0o600)
        return ca

    def issue(self, stem: str, *, common_name: str, san: str, client: bool = False) -> IssuedCert:
        """Sign ``<stem>.crt`` (key ``<stem>.key``); ``san`` as ``IP:127.0.0.1,DNS:localhost``."""
        usage = "clientAuth" if client else "serverAuth"
        ext = self.directory / f"{stem}.ext"
        ext.write_text(
            f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
            f"keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage={usage}\n"
        )
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-subj", f"/CN={common_name}",
            "-keyout", f"{stem}.key", "-out", f"{stem}.csr",
            cwd=self.directory,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-sha256", "-days", "30", "-in", f"{stem}.csr",
            "-CA", self.cert.name, "-CAkey", self.key.name, "-set_serial", str(abs(hash(stem)) % 10**12 + 1),
            "-extfile", ext.name, "-out", f"{stem}.crt",
            cwd=self.directory,
        )  # fmt: skip
        issued = IssuedCert(self.directory / f"{stem}.crt", self.directory / f"{stem}.key")
        issued.key.chmod(0o600)
        return issued


__all__ = ["IssuedCert", "TestCa"]
