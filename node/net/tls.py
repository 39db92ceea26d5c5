"""TLS on the orchestrator's service port, as go-livepeer serves it.

go's orchestrator (server/cert.go getCert) writes a fresh self-signed ECDSA P-256 certificate for
the service address's host, valid a year, to `cert.pem`/`key.pem` in its data directory at every
start (its check for existing files is disabled: "for now, just generate a new cert every time"),
then `ListenAndServeTLS`. Its gateway then connects with verification off
(`InsecureSkipVerify`). Python's gRPC cannot skip verification, so a gRPC client here pins the
certificate it fetched on first contact (trust on first use, as the livepeer-gateway SDK does) and
overrides the target name to the certificate's host.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

CERT_FILE, KEY_FILE = "cert.pem", "key.pem"
ALPN = ["h2", "http/1.1"]  # h2 first: gRPC clients offer only h2


def generate_cert(host: str, cert_path: str | Path, key_path: str | Path, *, days: int = 365) -> None:
    """Write a self-signed ECDSA P-256 certificate for `host` (a DNS name or an IP address)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Livepeer"),
                      x509.NameAttribute(NameOID.COMMON_NAME, host)])
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    Path(key_path).write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    Path(cert_path).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def new_cert(datadir: str | Path, host: str) -> tuple[Path, Path]:
    """go's getCert: a new self-signed pair in datadir's cert.pem/key.pem at every start."""
    d = Path(datadir)
    d.mkdir(parents=True, exist_ok=True)
    cert, key = d / CERT_FILE, d / KEY_FILE
    generate_cert(host, cert, key)
    return cert, key


def server_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """The service port's context: ALPN offers h2 (gRPC) and http/1.1."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    ctx.set_alpn_protocols(ALPN)
    return ctx


def client_context() -> ssl.SSLContext:
    """go's gateway client: TLS without verification (the orchestrator's certificate is self-signed)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def fetch_server_cert(host: str, port: int, timeout: float = 5.0) -> bytes:
    """The PEM certificate a TLS server presents, unverified (the first contact of trust on first use)."""
    return ssl.get_server_certificate((host, port), timeout=timeout).encode()


def cert_host(pem: bytes) -> str:
    """The name to verify a pinned certificate against: its common name."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    attrs = x509.load_pem_x509_certificate(pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else "localhost"


class PinnedChannels:
    """gRPC channels to https orchestrators, each pinned to the certificate first seen at its address."""

    def __init__(self) -> None:
        self._pins: dict[tuple[str, int], bytes] = {}

    def pin(self, host: str, port: int) -> bytes:
        key = (host, port)
        if key not in self._pins:
            self._pins[key] = fetch_server_cert(host, port)
        return self._pins[key]

    async def apin(self, host: str, port: int) -> bytes:
        """pin() off the running loop (the first contact is a blocking handshake)."""
        import asyncio

        if (host, port) not in self._pins:
            self._pins[(host, port)] = await asyncio.to_thread(fetch_server_cert, host, port)
        return self._pins[(host, port)]

    def forget(self, host: str, port: int) -> None:
        self._pins.pop((host, port), None)

    def channel(self, host: str, port: int, *, aio: bool = True, options: list | None = None):
        """A secure channel pinned to the address's certificate (call apin() first from async code)."""
        import grpc

        pem = self._pins.get((host, port)) or self.pin(host, port)
        creds = grpc.ssl_channel_credentials(root_certificates=pem)
        opts = [("grpc.ssl_target_name_override", cert_host(pem)), *(options or [])]
        make = grpc.aio.secure_channel if aio else grpc.secure_channel
        return make(f"{host}:{port}", creds, options=opts)


async def grpc_channel(uri: str, pins: PinnedChannels | None = None):
    """An aio gRPC channel to an orchestrator's service URI: TLS pinned on first contact for https://,
    h2c for http:// or a bare host:port (this node's plaintext switch)."""
    import grpc

    target = uri.split("://", 1)[-1].rstrip("/")
    if not uri.startswith("https://"):
        return grpc.aio.insecure_channel(target)
    host, _, port = target.rpartition(":")
    pins = pins or PinnedChannels()
    try:
        await pins.apin(host, int(port))
    except OSError:  # unreachable for now: a channel whose calls fail UNAVAILABLE, as any RPC to it would
        return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials())
    return pins.channel(host, int(port))
