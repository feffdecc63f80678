"""Response headers, /health and /metrics, in all three TLS modes (api.md §1.7, §14; product.md §9.6, §11.4)."""

from __future__ import annotations

import datetime
import ipaddress
import re

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from manager_process import ADMIN_PASSWORD, ManagerProcess

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
HSTS = "max-age=63072000; includeSubDomains"


def assert_common_headers(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, f"{where}: {name}={response.headers.get(name)!r}"
    assert re.fullmatch(r"[0-9a-f-]{36}", response.headers.get("X-Request-Id", "")), f"{where}: X-Request-Id"
    cors = [h for h in response.headers if h.lower().startswith("access-control-")]
    assert not cors, f"{where}: CORS headers {cors}"


def assert_html_csp(response: httpx.Response, ws_scheme: str = "wss") -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    directives = {d.strip().split(" ")[0]: d.strip().split(" ")[1:] for d in csp.split(";") if d.strip()}
    assert directives.get("script-src") == ["'self'"], csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, csp
    assert directives.get("default-src") == ["'self'"] and directives.get("object-src") == ["'none'"]
    assert directives.get("frame-ancestors") == ["'none'"] and directives.get("base-uri") == ["'none'"]
    host = response.request.url.netloc.decode()
    assert f"{ws_scheme}://{host}" in directives.get("connect-src", []), csp


@pytest.fixture(scope="module")
def admin_token(manager) -> str:
    return manager.token()


# -- every kind of response carries the headers ----------------------------------------------------

def test_api_success_and_error_responses_carry_security_headers_and_no_store(manager, admin_token):
    with manager.api(admin_token) as api, manager.client() as anonymous:
        responses = [api.get("/api/v1/auth/me"), anonymous.get("/api/v1/auth/me"), anonymous.get("/api/v1/nope"),
                     anonymous.delete("/api/v1/openapi.json"), anonymous.get("/api/v1/openapi.json"),
                     api.post("/api/v1/users", content=b"{", headers={"Content-Type": "application/json"}),
                     api.post("/api/v1/users", content=b"x" * (65 * 1024), headers={"Content-Type": "application/json"})]
    assert [r.status_code for r in responses] == [200, 401, 404, 405, 200, 400, 413]
    for response in responses:
        assert_common_headers(response)
        assert response.headers.get("Cache-Control") == "no-store", response.request.url
        assert "Strict-Transport-Security" not in response.headers, "HSTS is for direct mode only"


def test_html_pages_carry_the_csp_and_security_headers(manager, admin_token):
    browser = manager.login()
    try:
        with manager.client() as anonymous:
            pages = [anonymous.get("/login"), browser.get("/dashboard"), browser.get("/admin/users"),
                     anonymous.get("/nope", headers={"Accept": "text/html"})]
            redirect = anonymous.get("/dashboard", follow_redirects=False)
    finally:
        browser.client.close()
    assert [p.status_code for p in pages] == [200, 200, 200, 404]
    for page in pages:
        assert page.headers["content-type"].startswith("text/html")
        assert_common_headers(page)
        assert_html_csp(page)
    assert redirect.status_code == 307
    assert_common_headers(redirect)


def test_html_pages_have_no_inline_scripts_or_handlers(manager):
    browser = manager.login()
    try:
        with manager.client() as client:
            pages = {"/login": client.get("/login").text, "/dashboard": browser.get("/dashboard").text}
    finally:
        browser.client.close()
    for path, html in pages.items():
        tags = re.findall(r"<script\b[^>]*>", html, flags=re.I)
        assert tags, f"{path}: no script at all?"
        for tag in tags:
            assert "src=" in tag, f"{path}: inline script {tag}"
        assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html), f"{path}: inline script body"
        assert not re.search(r"\son[a-z]+\s*=", html, flags=re.I), f"{path}: inline event handler"
        assert not re.search(r"\sstyle\s*=", html, flags=re.I), f"{path}: style attribute (style-src 'self')"


def test_static_files_carry_the_security_headers(manager):
    with manager.client() as client:
        found = client.get("/static/js/app.js")
        missing = client.get("/static/js/does-not-exist.js")
    assert found.status_code == 200 and missing.status_code == 404
    for response in (found, missing):
        for name, value in COMMON.items():
            assert response.headers.get(name) == value, f"{response.request.url.path}: {name}"
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_static_responses_carry_a_request_id_and_a_missing_file_is_a_json_404(manager):
    with manager.client() as client:
        found = client.get("/static/js/app.js")
        missing = client.get("/static/js/does-not-exist.js")
    for response in (found, missing):
        assert_common_headers(response)
    assert missing.headers["content-type"].startswith("application/json")
    assert missing.json()["code"] == "not_found"


def test_cors_preflight_gets_no_cors_headers(manager):
    with manager.client() as client:
        response = client.options("/api/v1/users", headers={"Origin": "https://evil.example",
                                                             "Access-Control-Request-Method": "POST"})
    assert response.status_code == 405
    assert_common_headers(response)


# -- /health and /metrics ----------------------------------------------------------------------------

def test_health_is_public_and_reveals_nothing_but_its_own_state(manager):
    with manager.client() as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert_common_headers(response)
    body = response.json()
    assert set(body) == {"status", "service", "version", "self_signed_cert", "uptime_secs"}
    assert body["status"] == "ok" and body["service"] == "bilbycast-manager"
    assert body["self_signed_cert"] is True
    assert isinstance(body["uptime_secs"], int) and body["uptime_secs"] >= 0
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", body["version"])


def test_metrics_from_loopback_are_served_as_prometheus_text(manager):
    with manager.client() as client:
        client.get("/health")
        response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert_common_headers(response)
    text = response.text
    assert re.search(r'^bilbycast_build_info\{version="[^"]+"\} 1$', text, flags=re.M)
    assert re.search(r"^bilbycast_uptime_seconds \d+", text, flags=re.M)
    assert re.search(r'^bilbycast_http_requests_total\{method="GET",route="/health",status="200"\} [1-9]', text,
                     flags=re.M)
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert names and all(name.startswith("bilbycast_") for name in names), names


@pytest.mark.parametrize("header", [{"X-Forwarded-For": "127.0.0.1"}, {"X-Forwarded-For": "198.51.100.7"},
                                    {"Forwarded": "for=198.51.100.7"}])
def test_metrics_with_forwarding_headers_are_refused(manager, header):
    with manager.client() as client:
        response = client.get("/metrics", headers=header)
    assert response.status_code == 403 and response.json()["code"] == "metrics_forbidden"


def test_metrics_refuse_a_user_session_token(manager, admin_token):
    with manager.client(headers={"Authorization": f"Bearer {admin_token}", "X-Forwarded-For": "198.51.100.7"}) as c:
        response = c.get("/metrics")
    assert response.status_code == 403 and response.json()["code"] == "metrics_forbidden"


# -- behind_proxy mode ---------------------------------------------------------------------------

METRICS_TOKEN = "m" * 20 + "etrics-token-for-the-scraper"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    proc = ManagerProcess(tmp_path_factory.mktemp("proxied"), tls_mode="behind_proxy",
                          extra_env={"BILBYCAST_METRICS_TOKENS": METRICS_TOKEN})
    proc.setup()
    proc.start()
    yield proc
    proc.stop()


def test_behind_proxy_serves_plain_http_with_non_secure_cookies_and_no_hsts(proxied):
    assert proxied.base_url.startswith("http://")
    with proxied.client() as client:
        health = client.get("/health")
        assert health.status_code == 200 and health.json()["self_signed_cert"] is False
        response = client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert response.status_code == 200, response.text
        cookies = response.headers.get_list("set-cookie")
        assert len(cookies) == 2
        for cookie in cookies:
            attributes = [a.strip().lower() for a in cookie.split(";")]
            assert "secure" not in attributes and "samesite=lax" in attributes
        page = client.get("/dashboard")
    for r in (health, response, page):
        assert "Strict-Transport-Security" not in r.headers
        assert_common_headers(r)
    assert page.status_code == 200
    assert_html_csp(page, ws_scheme="ws")


def test_behind_proxy_trusts_x_forwarded_for_from_the_proxy_for_limits_and_audit(proxied):
    with proxied.client() as client:
        for attempt in range(5):
            response = client.post("/api/v1/auth/login", json={"username": f"x{attempt}", "password": "wrong passw"},
                                   headers={"X-Forwarded-For": "203.0.113.50"})
            assert response.status_code == 401
        limited = client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD},
                              headers={"X-Forwarded-For": "203.0.113.50"})
        assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
        # Another client behind the same proxy is not affected; the right-most untrusted hop counts.
        other = client.post("/api/v1/auth/login",
                            json={"username": "admin", "password": ADMIN_PASSWORD, "return_token": True},
                            headers={"X-Forwarded-For": "203.0.113.50, 203.0.113.51"})
        assert other.status_code == 200, other.text
        token = other.json()["token"]
    with proxied.api(token) as api:
        rows = api.get("/api/v1/audit-log", params={"action": "auth.login"}).json()["items"]
    assert [r["ip_address"] for r in rows if r["action"] == "auth.login"][:1] == ["203.0.113.51"]


def test_metrics_token_opens_metrics_even_through_the_proxy(proxied):
    with proxied.client() as client:
        ok = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}", "X-Forwarded-For": "198.51.100.7"})
        wrong = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}x",
                                                "X-Forwarded-For": "198.51.100.7"})
        proxied_anonymous = client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"})
    assert ok.status_code == 200 and "bilbycast_build_info" in ok.text
    assert wrong.status_code == 403 and wrong.json()["code"] == "metrics_forbidden"
    assert proxied_anonymous.status_code == 403


# -- direct mode -----------------------------------------------------------------------------------

def write_ca_signed_certificate(directory) -> tuple[str, str]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it; returns (cert, key) paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "manager.test")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    key_path.chmod(0o600)
    return str(cert_path), str(key_path)


def test_direct_mode_serves_the_given_certificate_and_sends_hsts(tmp_path):
    cert, key = write_ca_signed_certificate(tmp_path)
    proc = ManagerProcess(tmp_path / "direct", tls_mode="direct",
                          extra_env={"BILBYCAST_TLS_CERT": cert, "BILBYCAST_TLS_KEY": key})
    proc.setup()
    proc.start()
    try:
        with proc.client() as client:
            health = client.get("/health")
            page = client.get("/login")
            error = client.get("/api/v1/auth/me")
        assert health.status_code == 200 and health.json()["self_signed_cert"] is False
        for response in (health, page, error):
            assert response.headers.get("Strict-Transport-Security") == HSTS, response.request.url
            assert_common_headers(response)
        assert error.status_code == 401
        token = proc.token()
        with proc.api(token) as api:
            tls = api.get("/api/v1/settings/tls").json()
        assert tls["mode"] == "direct" and tls["is_self_signed"] is False and tls["subject"] == "CN=manager.test"
    finally:
        proc.stop()
