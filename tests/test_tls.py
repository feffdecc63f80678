"""Self-signed certificate lifecycle and TLS helpers (product.md §11.4, api.md §11)."""

import datetime as dt
import ipaddress
import os
import re
import ssl
import stat

import pytest

from bilbycast.services.tls import (
    ensure_self_signed,
    load_cert_info,
    local_addresses,
    make_server_ssl_context,
    tls_api_without_certificate,
)

FINGERPRINT = re.compile(r"^([0-9a-f]{2}:){31}[0-9a-f]{2}$")
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_first_call_generates_and_second_reuses(tmp_path):
    tls_dir = tmp_path / "data" / "tls"
    first, regenerated = ensure_self_signed(tls_dir)
    assert regenerated
    second, regenerated_again = ensure_self_signed(tls_dir)
    assert not regenerated_again
    assert second.fingerprint_sha256 == first.fingerprint_sha256
    assert FINGERPRINT.match(first.fingerprint_sha256)


def test_certificate_contents(tmp_path):
    info, _ = ensure_self_signed(tmp_path / "tls", ["manager.example.net", "10.20.30.40", "2001:db8::5"])
    assert info.subject == "CN=bilbycast-manager"
    assert info.issuer == info.subject and info.is_self_signed
    for name in ("DNS:localhost", "IP:127.0.0.1", "IP:::1", "DNS:manager.example.net",
                 "IP:10.20.30.40", "IP:2001:db8::5"):
        assert name in info.san
    assert info.not_before.tzinfo is not None and info.not_after.tzinfo is not None
    assert info.not_after - info.not_before == dt.timedelta(days=825)
    assert 823 <= info.days_remaining <= 825


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_files_are_private(tmp_path):
    tls_dir = tmp_path / "tls"
    info, _ = ensure_self_signed(tls_dir)
    assert stat.S_IMODE(tls_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(info.cert_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(info.key_path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tls_dir.iterdir()) == ["cert.pem", "key.pem"]


def test_near_expiry_is_regenerated(tmp_path):
    short, _ = ensure_self_signed(tmp_path / "tls", valid_days=20)
    assert short.days_remaining < 30
    renewed, regenerated = ensure_self_signed(tmp_path / "tls")
    assert regenerated
    assert renewed.fingerprint_sha256 != short.fingerprint_sha256
    assert renewed.days_remaining > 800


def test_missing_or_damaged_files_are_regenerated(tmp_path):
    tls_dir = tmp_path / "tls"
    original, _ = ensure_self_signed(tls_dir)
    original.key_path.unlink()
    without_key, regenerated = ensure_self_signed(tls_dir)
    assert regenerated and without_key.fingerprint_sha256 != original.fingerprint_sha256

    without_key.cert_path.write_text("not a certificate")
    after_garbage, regenerated = ensure_self_signed(tls_dir)
    assert regenerated and after_garbage.fingerprint_sha256 != without_key.fingerprint_sha256


def test_key_that_does_not_match_is_regenerated(tmp_path):
    first, _ = ensure_self_signed(tmp_path / "a")
    other, _ = ensure_self_signed(tmp_path / "b")
    first.key_path.write_bytes(other.key_path.read_bytes())
    fixed, regenerated = ensure_self_signed(tmp_path / "a")
    assert regenerated
    make_server_ssl_context(fixed.cert_path, fixed.key_path)


def test_ssl_context_loads_and_requires_tls12(tmp_path):
    info, _ = ensure_self_signed(tmp_path / "tls")
    context = make_server_ssl_context(info.cert_path, info.key_path)
    assert isinstance(context, ssl.SSLContext)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_ssl_context_refuses_a_mismatched_key(tmp_path):
    first, _ = ensure_self_signed(tmp_path / "a")
    other, _ = ensure_self_signed(tmp_path / "b")
    with pytest.raises(ssl.SSLError):
        make_server_ssl_context(first.cert_path, other.key_path)


def test_load_cert_info_matches_generated(tmp_path):
    info, _ = ensure_self_signed(tmp_path / "tls")
    loaded = load_cert_info(info.cert_path, info.key_path)
    assert loaded == info


def test_api_shape(tmp_path):
    info, _ = ensure_self_signed(tmp_path / "tls", ["manager.example.net"])
    body = info.to_api()
    assert set(body) == {
        "mode", "is_self_signed", "cert_path", "key_path", "subject", "issuer", "san",
        "not_before", "not_after", "days_remaining", "fingerprint_sha256",
    }
    assert body["mode"] == "self_signed" and body["is_self_signed"] is True
    assert body["cert_path"] == str(info.cert_path)
    assert RFC3339_MS.match(body["not_before"]) and RFC3339_MS.match(body["not_after"])
    assert "DNS:manager.example.net" in body["san"]
    assert info.to_api("direct")["mode"] == "direct"

    proxied = tls_api_without_certificate("behind_proxy")
    assert set(proxied) == set(body)
    assert proxied["is_self_signed"] is False and proxied["mode"] == "behind_proxy"
    assert all(proxied[key] is None for key in body if key not in ("mode", "is_self_signed"))


def test_local_addresses_are_routable_ips():
    for text in local_addresses():
        address = ipaddress.ip_address(text)
        assert not address.is_loopback and not address.is_link_local and not address.is_unspecified
