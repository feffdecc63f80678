"""A real manager for tests: `python manager.py setup` then `serve` in a subprocess, on an
ephemeral port, with its own data dir, config dir, log dir and secrets. Tests talk to it over
real HTTPS and WebSockets exactly as a browser, a script or a node would."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
ADMIN_PASSWORD = "first admin passphrase"
USER_PASSWORD = "a long enough passphrase"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ManagerProcess:
    def __init__(self, root: Path, *, extra_env: dict[str, str] | None = None, tls_mode: str = "self_signed"):
        self.root = root
        self.data_dir = root / "data"
        self.config_dir = root / "config"
        self.log_dir = root / "logs"
        self.port = free_port()
        self.tls_mode = tls_mode
        self.jwt_secret = secrets.token_hex(32)
        self.master_key = secrets.token_hex(32)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BILBYCAST_")},
            "BILBYCAST_JWT_SECRET": self.jwt_secret,
            "BILBYCAST_MASTER_KEY": self.master_key,
            "BILBYCAST_LOG_DIR": str(self.log_dir),
            "BILBYCAST_TLS_MODE": tls_mode,
            "BILBYCAST_LISTEN": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen | None = None
        self.stdout_path = root / "serve.out"

    @property
    def scheme(self) -> str:
        return "http" if self.tls_mode == "behind_proxy" else "https"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "manager.db"

    def sqlite(self) -> sqlite3.Connection:
        """A direct connection to manager.db (WAL, so it works beside a running server)."""
        return sqlite3.connect(self.db_path, timeout=5)

    @property
    def ws_url(self) -> str:
        return f"{'ws' if self.scheme == 'http' else 'wss'}://127.0.0.1:{self.port}"

    def cli(self, *args: str, input_text: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [sys.executable, str(REPO / "manager.py"), "--config", str(self.config_dir / "config.toml"),
               "--data-dir", str(self.data_dir), *args]
        return subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=timeout,
                              env={**self.env, **(env or {})}, cwd=REPO)

    def setup(self) -> None:
        result = self.cli("setup", "--username", "admin", "--password-stdin", input_text=ADMIN_PASSWORD + "\n")
        assert result.returncode == 0, result.stdout + result.stderr

    def start(self, *serve_args: str) -> "ManagerProcess":
        self.root.mkdir(parents=True, exist_ok=True)
        out = open(self.stdout_path, "ab")
        cmd = [sys.executable, str(REPO / "manager.py"), "--config", str(self.config_dir / "config.toml"),
               "--data-dir", str(self.data_dir), "serve", "--port", str(self.port), *serve_args]
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=REPO)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"manager exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.base_url}/health", verify=False, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("manager did not become healthy:\n" + self.output())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def output(self) -> str:
        try:
            return self.stdout_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("manager.log*")))

    # -- HTTP helpers ----------------------------------------------------------------------
    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, verify=False, timeout=30, **kwargs)

    def login(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> "Browser":
        client = self.client()
        response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return Browser(client, response.json()["csrf_token"], response.json()["user"])

    def token(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
        with self.client() as client:
            response = client.post("/api/v1/auth/login",
                                   json={"username": username, "password": password, "return_token": True})
            assert response.status_code == 200, response.text
            return response.json()["token"]

    def api(self, token: str) -> httpx.Client:
        return self.client(headers={"Authorization": f"Bearer {token}"})

    def put_settings(self, token: str, **values) -> dict:
        with self.api(token) as api:
            response = api.put("/api/v1/settings", json={"settings": values})
            assert response.status_code == 200, response.text
            return response.json()["settings"]

    def relax_login_limits(self, token: str) -> None:
        """Tests that sign in many times from 127.0.0.1 raise the per-IP limit (5/60 s by default)."""
        self.put_settings(token, login_ip_max_attempts=100)

    def create_user(self, token: str, username: str, role: str, password: str = USER_PASSWORD, **fields) -> dict:
        body = {"username": username, "password": password, "display_name": username.title(), "role": role, **fields}
        with self.api(token) as api:
            response = api.post("/api/v1/users", json=body)
            assert response.status_code == 201, response.text
            return response.json()


class Browser:
    """A cookie-authenticated client that sends the CSRF header like the dashboard does."""

    def __init__(self, client: httpx.Client, csrf: str, user: dict):
        self.client, self.csrf, self.user = client, csrf, user

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if method.upper() in ("POST", "PUT", "PATCH", "DELETE"):
            headers.setdefault("X-CSRF-Token", self.csrf)
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)
