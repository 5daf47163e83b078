"""A test certificate authority made with the openssl command line: a CA, a broker
certificate for 127.0.0.1 and localhost (key and chain in one PEM file, Kafka's PEM
keystore), client certificates, a second CA nobody trusts, and a CRL revoking one client."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    res = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=60)
    if res.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{res.stderr}")


@dataclass
class Client:
    """A client certificate: its files and the principal Kafka's default rule makes."""
    cert: Path
    key: Path
    pem: Path  # key and certificate in one file (Java's PEM keystore)
    principal: str


class Ca:
    """A CA in `dir`; `sign` issues certificates, `revoke` adds one to its CRL."""

    def __init__(self, dir: Path, name: str):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.key = self.dir / f"{name}.key"
        self.cert = self.dir / f"{name}.pem"
        self.crl = self.dir / f"{name}.crl.pem"
        (self.dir / f"{name}.index").write_text("")
        (self.dir / f"{name}.crlnumber").write_text("01\n")
        (self.dir / f"{name}.cnf").write_text(
            "[ca]\ndefault_ca = CA_default\n[CA_default]\n"
            f"database = {self.dir / (name + '.index')}\n"
            f"crlnumber = {self.dir / (name + '.crlnumber')}\n"
            f"certificate = {self.cert}\nprivate_key = {self.key}\n"
            "default_md = sha256\ndefault_crl_days = 30\n"
        )
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", str(self.key), cwd=self.dir)
        _openssl("req", "-x509", "-new", "-key", str(self.key), "-days", "30",
                 "-subj", f"/O=Weir Test/CN={name}", "-out", str(self.cert),
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)
        self.update_crl()

    def sign(self, name: str, subject: str, server: bool = False) -> Client:
        key = self.dir / f"{name}.key"
        csr = self.dir / f"{name}.csr"
        cert = self.dir / f"{name}.crt"
        ext = self.dir / f"{name}.ext"
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", str(key), cwd=self.dir)
        _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr),
                 cwd=self.dir)
        if server:
            ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                           "extendedKeyUsage=serverAuth,clientAuth\n")
        else:
            ext.write_text("extendedKeyUsage=clientAuth\n")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey",
                 str(self.key), "-CAcreateserial", "-days", "30", "-sha256", "-extfile",
                 str(ext), "-out", str(cert), cwd=self.dir)
        pem = self.dir / f"{name}.keystore.pem"
        pem.write_text(key.read_text() + cert.read_text() + self.cert.read_text())
        # RFC 2253: the last RDN first, as Java's X500Principal.getName() prints it.
        rdns = [r for r in subject.strip("/").split("/") if r]
        return Client(cert, key, pem, "User:" + ",".join(reversed(rdns)))

    def revoke(self, client: Client) -> None:
        _openssl("ca", "-config", str(self.dir / f"{self.name}.cnf"), "-revoke",
                 str(client.cert), cwd=self.dir)
        self.update_crl()

    def update_crl(self) -> None:
        _openssl("ca", "-config", str(self.dir / f"{self.name}.cnf"), "-gencrl", "-out",
                 str(self.crl), cwd=self.dir)
