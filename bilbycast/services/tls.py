"""TLS certificates: the generated self-signed one and the operator's own (product.md §11.4).

In `self_signed` mode the certificate is generated once and reused across restarts, so the
fingerprint engineers pin in their browsers and nodes stays the same until it nears expiry.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..timeutil import iso

COMMON_NAME = "bilbycast-manager"
VALID_DAYS = 825  # the longest validity browsers accept for a server certificate
RENEW_WITHIN_DAYS = 30
CERT_FILE_NAME = "cert.pem"
KEY_FILE_NAME = "key.pem"
# Backdate the start so a node whose clock runs a little behind still accepts a fresh certificate.
_CLOCK_SKEW = dt.timedelta(hours=1)


@dataclass
class CertInfo:
    cert_path: Path
    key_path: Path
    subject: str
    issuer: str
    san: list[str]  # "DNS:localhost", "IP:127.0.0.1", …
    not_before: dt.datetime  # timezone-aware, UTC
    not_after: dt.datetime
    days_remaining: int  # whole days; negative once expired
    fingerprint_sha256: str  # lowercase colon-separated hex of the DER encoding
    is_self_signed: bool  # issuer == subject

    def to_api(self, mode: str = "self_signed") -> dict:
        """The body of `GET /api/v1/settings/tls` (api.md §11) for a mode that serves TLS."""
        return {
            "mode": mode,
            "is_self_signed": self.is_self_signed,
            "cert_path": str(self.cert_path),
            "key_path": str(self.key_path),
            "subject": self.subject,
            "issuer": self.issuer,
            "san": list(self.san),
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
            "days_remaining": self.days_remaining,
            "fingerprint_sha256": self.fingerprint_sha256,
        }


def tls_api_without_certificate(mode: str = "behind_proxy") -> dict:
    """The `GET /api/v1/settings/tls` body when the manager serves no certificate itself."""
    empty = dict.fromkeys(
        ("cert_path", "key_path", "subject", "issuer", "san", "not_before", "not_after",
         "days_remaining", "fingerprint_sha256")
    )
    return {"mode": mode, "is_self_signed": False, **empty}


def _general_name_text(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DNSName):
        return f"DNS:{name.value}"
    if isinstance(name, x509.IPAddress):
        return f"IP:{name.value}"
    if isinstance(name, x509.UniformResourceIdentifier):
        return f"URI:{name.value}"
    if isinstance(name, x509.RFC822Name):
        return f"email:{name.value}"
    return str(name.value)


def _cert_info(cert: x509.Certificate, cert_path: Path, key_path: Path) -> CertInfo:
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        san = [_general_name_text(name) for name in sans]
    except x509.ExtensionNotFound:
        san = []
    not_after = cert.not_valid_after_utc
    remaining = not_after - dt.datetime.now(dt.timezone.utc)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    return CertInfo(
        cert_path=Path(cert_path),
        key_path=Path(key_path),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        san=san,
        not_before=cert.not_valid_before_utc,
        not_after=not_after,
        days_remaining=remaining.days,  # floor: 29 days 23 h left counts as 29
        fingerprint_sha256=":".join(fingerprint[i:i + 2] for i in range(0, len(fingerprint), 2)),
        is_self_signed=cert.issuer == cert.subject,
    )


def load_cert_info(cert_path: Path, key_path: Path) -> CertInfo:
    """Describe the first certificate in a PEM file. Raises OSError or ValueError if unusable."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    return _cert_info(cert, Path(cert_path), Path(key_path))


def make_server_ssl_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A server context with TLS 1.2 as the floor (1.3 is preferred by default)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=str(cert_path), keyfile=str(key_path))
    return context


def _is_useful_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Link-local addresses need a zone id and are not reachable across a routed network.
    return not (address.is_loopback or address.is_unspecified or address.is_link_local or address.is_multicast)


def local_addresses() -> list[str]:
    """Non-loopback addresses of this host (IPv4 first), found without extra dependencies.

    Uses the hostname's own addresses plus the source address the kernel would pick for an
    outbound route. Connecting a UDP socket sends no packet, so this works offline too.
    """
    found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    try:
        for *_, sockaddr in socket.getaddrinfo(socket.gethostname(), None):
            found.add(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
    except (OSError, ValueError, UnicodeError):
        pass
    # Documentation-range destinations: never contacted, only used to select a route.
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((probe, 9))
                found.add(ipaddress.ip_address(sock.getsockname()[0].split("%", 1)[0]))
        except (OSError, ValueError):
            pass
    useful = [address for address in found if _is_useful_address(address)]
    useful.sort(key=lambda address: (address.version, address.packed))
    return [str(address) for address in useful]


def _san_names(extra_names: list[str]) -> list[x509.GeneralName]:
    hostname = socket.gethostname()
    candidates = [hostname, "localhost", "127.0.0.1", "::1", *local_addresses(), *extra_names]
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for candidate in candidates:
        candidate = (candidate or "").strip()
        if not candidate:
            continue
        try:
            name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(candidate))
        except ValueError:
            if not candidate.isascii() or " " in candidate:
                continue  # not a usable DNS name (an internationalised name must be given as punycode)
            name = x509.DNSName(candidate.lower())
        key = _general_name_text(name)
        if key not in seen:
            seen.add(key)
            names.append(name)
    return names


def _write_private(path: Path, data: bytes) -> None:
    # Write beside the target and rename, so a crash never leaves a half-written key or cert.
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _generate(cert_path: Path, key_path: Path, extra_names: list[str], valid_days: int) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    not_before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - _CLOCK_SKEW
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=valid_days))
        .add_extension(x509.SubjectAlternativeName(_san_names(extra_names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Key first: if we stop between the two writes, the mismatch is caught and both are redone.
    _write_private(key_path, key_pem)
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def _reusable(cert_path: Path, key_path: Path) -> CertInfo | None:
    """The existing pair's info if it can still be served for a while, else None."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if key.public_key() != cert.public_key():
        return None
    info = _cert_info(cert, cert_path, key_path)
    if info.days_remaining < RENEW_WITHIN_DAYS:
        return None
    return info


def ensure_self_signed(
    tls_dir: Path, extra_names: list[str] | None = None, *, valid_days: int = VALID_DAYS
) -> tuple[CertInfo, bool]:
    """Reuse `tls_dir/cert.pem` + `key.pem`, or generate a new pair. Returns (info, regenerated).

    A new pair is made when either file is missing or unreadable, the key does not match the
    certificate, or fewer than 30 days remain. `valid_days` exists for tests.
    """
    tls_dir = Path(tls_dir)
    tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if hasattr(os, "geteuid"):
        os.chmod(tls_dir, 0o700)  # the directory is ours; mkdir's mode is masked by the umask
    cert_path, key_path = tls_dir / CERT_FILE_NAME, tls_dir / KEY_FILE_NAME
    existing = _reusable(cert_path, key_path)
    if existing is not None:
        return existing, False
    _generate(cert_path, key_path, list(extra_names or []), valid_days)
    return load_cert_info(cert_path, key_path), True
