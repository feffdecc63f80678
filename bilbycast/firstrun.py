"""`bilbycast-manager` with no command: what a field engineer expects when running the binary.

1. If a manager already answers on the configured port, or holds this data directory, say where
   it is and open its dashboard instead of starting a second one.
2. `setup --generate-secrets`, without prompts: the config and data directories (platformdirs),
   a commented config.toml, manager.env (0600) with two fresh secrets, the database, a
   self-signed certificate when no certificate is configured, and the first super_admin with a
   generated password printed once (to be changed at first sign-in), unless a user exists.
3. `serve`, opening the dashboard in the default browser once listening (when a display is
   present and --no-browser was not given), then a banner with the URL, the certificate
   fingerprint and the exact settings a node needs to trust this manager.

The browser helpers are shared with `serve --open-browser` (serve.py calls them after listen).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import re
import shlex
import shutil
import ssl
import subprocess
import sys
import urllib.request
import webbrowser
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from . import __version__
from .config import Config

log = logging.getLogger("bilbycast.firstrun")

EXIT_OK, EXIT_LOCKED = 0, 4
RULE = "=" * 72


# -- browser ---------------------------------------------------------------------------------
def display_available(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """macOS and Windows always have a desktop; elsewhere only with an X11 or Wayland display."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform == "darwin" or platform.startswith(("win", "cygwin")):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def child_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for programs outside the bundle (the browser).

    A frozen binary's bootloader points LD_LIBRARY_PATH at its own libraries (keeping the user's
    value in LD_LIBRARY_PATH_ORIG); a system browser started with that would load our libssl.
    """
    env = dict(os.environ if environ is None else environ)
    if getattr(sys, "frozen", False):
        original = env.pop("LD_LIBRARY_PATH_ORIG", None)
        if original:
            env["LD_LIBRARY_PATH"] = original
        else:
            env.pop("LD_LIBRARY_PATH", None)
    return env


def dashboard_url(base_urls: list[str]) -> str | None:
    """The URL to open on this machine: localhost when it is one of them."""
    if not base_urls:
        return None
    for url in base_urls:
        if "://localhost:" in url or "://127.0.0.1:" in url or "://[::1]:" in url:
            return url + "/dashboard"
    return base_urls[0] + "/dashboard"


def open_browser(url: str) -> bool:
    """Open `url` in the default browser without blocking. Returns whether a browser was started."""
    if sys.platform != "darwin" and not sys.platform.startswith("win"):
        env = child_environment()
        command: list[str] | None = None
        browser = os.environ.get("BROWSER", "").split(os.pathsep)[0].strip()
        if browser:  # the same variable webbrowser and xdg-open honour
            command = shlex.split(browser.replace("%s", url)) if "%s" in browser else [*shlex.split(browser), url]
        elif shutil.which("xdg-open"):
            command = ["xdg-open", url]
        if command:
            try:
                subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
                return True
            except OSError as exc:
                log.warning("cannot start %s: %s", command[0], exc.strerror)
    try:
        return webbrowser.open(url, new=2)
    except webbrowser.Error:
        return False


def open_dashboard_soon(base_urls: list[str], environ: Mapping[str, str] | None = None) -> None:
    """`serve --open-browser`: open the dashboard when there is a display to show it on."""
    url = dashboard_url(base_urls)
    if url is None:
        return
    if not display_available(environ):
        log.info("no display: not opening a browser (dashboard at %s)", url)
        return

    def opener() -> None:
        if open_browser(url):
            log.info("opened %s in the default browser", url)
        else:
            log.info("no browser could be started; open %s yourself", url)

    try:
        asyncio.get_running_loop().run_in_executor(None, opener)
    except RuntimeError:  # not in the event loop (called from a plain thread)
        opener()


# -- already running? ------------------------------------------------------------------------
def _probe_url(config: Config) -> str:
    scheme = "http" if config.behind_proxy else "https"
    listen = config.listen
    if any(a in ("0.0.0.0", "127.0.0.1") for a in listen) or not listen:
        host = "127.0.0.1"
    elif any(a in ("::", "::1") for a in listen):
        host = "[::1]"
    else:
        host = f"[{listen[0]}]" if ":" in listen[0] else listen[0]
    return f"{scheme}://{host}:{config.port}"


def running_manager(config: Config, timeout: float = 1.5) -> str | None:
    """The base URL of a bilbycast-manager already answering on the configured port, else None."""
    base = _probe_url(config)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no CA bundle to load: only asking "is it us?"
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # nothing secret is sent
    try:
        with urllib.request.urlopen(base + "/health", timeout=timeout, context=context) as response:
            body = json.loads(response.read(4096) or b"{}")
    except Exception:  # refused, timed out, not HTTP, not JSON, a 503 while shutting down
        return None
    if isinstance(body, dict) and body.get("service") == "bilbycast-manager":
        return base.replace("://127.0.0.1:", "://localhost:").replace("://[::1]:", "://localhost:")
    return None


# -- the first run ---------------------------------------------------------------------------
_CREATED = re.compile(r"created first super_admin: (\S+)")
_GENERATED = re.compile(r"password \(shown once")


@contextlib.contextmanager
def _no_prompts():
    """setup prompts for a username and password on a terminal; the first run never asks."""
    saved = sys.stdin
    sys.stdin = io.StringIO("")
    try:
        yield
    finally:
        sys.stdin = saved


def _say(text: str = "") -> None:
    print(text, flush=True)


def run(config: Config, args: Namespace) -> int:
    from . import commands
    from . import serve as serve_module
    from .services.lockfile import DataDirLock, DatabaseLocked

    no_browser = bool(getattr(args, "no_browser", False))
    existing = running_manager(config)
    if existing:
        url = existing + "/dashboard"
        _say(f"bilbycast-manager is already running: {url}")
        if not no_browser and display_available() and open_browser(url):
            _say("opened it in your browser")
        return EXIT_OK
    try:
        if config.lock_path.exists():  # (checking creates nothing: setup makes the directory 0700)
            DataDirLock(config.lock_path).acquire().release()
    except DatabaseLocked:
        _say(f"another bilbycast-manager is already running with the data in {config.data_dir}")
        return EXIT_LOCKED

    _say(f"bilbycast-manager {__version__}: starting (run `bilbycast-manager --help` for the commands)")
    captured = io.StringIO()
    setup_args = Namespace(generate_secrets=True, username=None, display_name=None, email=None,
                           password_stdin=False)
    try:
        with _no_prompts(), contextlib.redirect_stdout(captured):
            code = commands.setup(config, setup_args)
    finally:
        for line in captured.getvalue().splitlines():
            _say("  " + line)
    if code != EXIT_OK:
        return code
    created = _CREATED.search(captured.getvalue())
    admin = created.group(1) if created else None
    generated = bool(_GENERATED.search(captured.getvalue()))

    def banner(app: Any, cfg: Config, port: int, cert: Any) -> None:
        _say(banner_text(app.public_base_urls, cfg, port, cert, new_admin=admin, generated=generated))

    serve_args = Namespace(listen=None, port=None, tls_mode=None, demo=0, open_browser=not no_browser,
                           no_browser=no_browser)
    serve_module.LISTENING_HOOKS.append(banner)
    try:
        code = commands.serve(config, serve_args)
    finally:
        serve_module.LISTENING_HOOKS.remove(banner)
    if code == 1:
        _say(f"could not start (see above). If port {config.port} is taken, choose another with "
             f"BILBYCAST_PORT=<port> or server.port in {config.config_file}")
    return code


def banner_text(base_urls: list[str], config: Config, port: int, cert: Any, *, new_admin: str | None,
                generated: bool = True) -> str:
    """What the engineer needs on one screen: where, who, and how nodes trust this manager."""
    url = dashboard_url(base_urls) or f"https://localhost:{port}/dashboard"
    lines = [RULE, "bilbycast-manager is running.", "", f"  Dashboard:    {url}"]
    others = [u + "/dashboard" for u in base_urls if u + "/dashboard" != url]
    for other in others[:4]:
        lines.append(f"                {other}")
    if new_admin and generated:
        lines.append(f'  Sign in as "{new_admin}" with the password printed above (shown once); '
                     "you will be asked to change it.")
    elif new_admin:
        lines.append(f'  Sign in as "{new_admin}" with the password you set.')
    ws_scheme = "ws" if config.behind_proxy else "wss"
    node_urls = [f"{ws_scheme}{u[u.index('://'):]}/ws/node" for u in base_urls
                 if "://localhost:" not in u and "://127.0.0.1:" not in u and "://[::1]:" not in u]
    if not node_urls:
        node_urls = [f"{ws_scheme}{u[u.index('://'):]}/ws/node" for u in base_urls[:1]]
    lines += ["", "  Nodes connect to: " + (node_urls[0] if node_urls else f"wss://<this host>:{port}/ws/node")]
    for other in node_urls[1:4]:
        lines.append(f"                    {other}")
    fingerprint = getattr(cert, "fingerprint_sha256", None)
    if config.behind_proxy:
        lines += ["  TLS ends at your reverse proxy: nodes trust the proxy's certificate, so set the",
                  "  node's manager URL to the proxy's wss:// address (a public certificate needs no",
                  "  extra node setting)."]
    elif cert is not None and getattr(cert, "is_self_signed", False):
        lines += [
            "",
            "  Certificate:  self-signed, SHA-256 fingerprint",
            f"                {fingerprint}",
            "                (your browser warns about it: check that it shows this fingerprint)",
            "",
            "  Node trust settings for this self-signed certificate:",
            "    in the node's manager configuration:  accept_self_signed_cert: true",
            "    in the node's environment:            BILBYCAST_ALLOW_INSECURE=1",
            "  (A certificate fingerprint pin cannot replace these: nodes check the CA chain first.",
            "   With a publicly trusted certificate, nodes may pin it with cert_fingerprint.)",
        ]
    elif fingerprint:
        lines += [
            "",
            "  Certificate:  SHA-256 fingerprint",
            f"                {fingerprint}",
            "  Nodes trust this publicly issued certificate as they are; to pin it as well, set in",
            f'  the node\'s manager configuration:  cert_fingerprint: "{fingerprint}"',
            "  (every renewal changes the fingerprint: update the pins when the certificate is renewed)",
        ]
    lines += [
        "",
        f"  Config:  {config.config_file}",
        f"  Data:    {config.data_dir}",
    ]
    if config.log_dir is not None:
        lines.append(f"  Log:     {config.log_dir / 'manager.log'}")
    lines += ["", "  Stop with Ctrl+C. Next time, run it again the same way: nothing is asked twice.", RULE]
    return "\n".join(lines)
