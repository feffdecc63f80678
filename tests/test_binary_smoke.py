"""The shipped artefacts, end to end: the one-file PyInstaller binary and the .deb (issue 6).

The binary is built once per session by build/binary.sh when dist/bilbycast-manager is missing
or older than the sources (about 20-60 s with PyInstaller's cache, longer from clean). Set
BILBYCAST_SKIP_BINARY=1 to skip these tests on a machine that cannot build it.

The smoke run copies the binary into a temporary directory (so nothing can come from the source
tree), points HOME and the XDG directories there, and runs it with no arguments like a field
engineer would: first-run setup, the banner, the dashboard opened in a (fake) browser, sign-in
with the printed password, an edge simulated by `<binary> simulate` registering and going online,
then SIGTERM: exit 0 within 10 s, the connected nodes told 1001 (going away), every event that
reached the manager stored, and no secret in any log.

The browser helpers and the banner are also checked from source, without the binary.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import ssl
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from manager_process import free_port

REPO = Path(__file__).resolve().parent.parent
DIST = REPO / "dist"
BINARY = DIST / "bilbycast-manager"
ONEDIR = DIST / "bilbycast-manager-onedir"
NEW_PASSWORD = "smoke test passphrase 42"

# What the binary is built from: a change to any of these rebuilds it. assets/dist is built from
# assets/css, html and js plus build/package-lock.json, so it is covered by those.
SOURCE_GLOBS = ("manager.py", "bilbycast/**/*.py", "assets/css/**/*", "assets/html/**/*", "assets/js/**/*",
                "assets/img/**/*", "build/bilbycast-manager.spec", "build/binary.sh", "build/assets.sh",
                "build/requirements.txt", "build/package-lock.json")


def _newest_source() -> float:
    newest = 0.0
    for pattern in SOURCE_GLOBS:
        for path in REPO.glob(pattern):
            if path.is_file() and "__pycache__" not in path.parts:
                newest = max(newest, path.stat().st_mtime)
    return newest


def _fresh(path: Path, newest: float) -> bool:
    return path.exists() and path.stat().st_mtime >= newest


@pytest.fixture(scope="session")
def binary() -> Path:
    if os.environ.get("BILBYCAST_SKIP_BINARY") == "1":
        pytest.skip("BILBYCAST_SKIP_BINARY=1: the PyInstaller binary is neither built nor tested")
    want_onedir = shutil.which("dpkg-deb") is not None  # the .deb test needs the one-dir build too
    lock_path = REPO / "build" / "pyinstaller" / ".build.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:  # another session building at the same time waits here
        fcntl.flock(lock, fcntl.LOCK_EX)
        newest = _newest_source()
        needed = [BINARY] + ([ONEDIR / "bilbycast-manager"] if want_onedir else [])
        if not all(_fresh(path, newest) for path in needed):
            started = time.monotonic()
            result = subprocess.run(["bash", "build/binary.sh", "--all" if want_onedir else "--onefile",
                                     "--no-bootstrap"], cwd=REPO, capture_output=True, text=True, timeout=900)
            assert result.returncode == 0, (result.stdout[-6000:] + result.stderr[-6000:])
            print(f"built the binary in {time.monotonic() - started:.0f} s")
    return BINARY


# -- helpers ---------------------------------------------------------------------------------------

def laptop_env(root: Path, port: int, **extra: str) -> dict[str, str]:
    """A clean desktop-like environment whose home, XDG dirs and TMPDIR are all under `root`."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(root / "home"),
        "XDG_CONFIG_HOME": str(root / "xdg-config"),
        "XDG_DATA_HOME": str(root / "xdg-data"),
        "XDG_STATE_HOME": str(root / "xdg-state"),
        "XDG_CACHE_HOME": str(root / "xdg-cache"),
        "TMPDIR": str(root / "tmp"),
        "BILBYCAST_PORT": str(port),
        "BILBYCAST_LISTEN": "127.0.0.1",
        **extra,
    }
    for key in ("HOME", "TMPDIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    return env


def wait_healthy(proc: subprocess.Popen, url: str, output: Path, timeout: float = 30) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}:\n{output.read_text(errors='replace')}")
        try:
            if httpx.get(url + "/health", verify=False, timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("no /health 200 within %d s:\n%s" % (timeout, output.read_text(errors="replace")))


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def banner_in(path: Path) -> str | None:
    text = path.read_text(errors="replace")
    return text if "bilbycast-manager is running." in text else None


def launch(command: list[str], **kwargs) -> subprocess.Popen:
    """Its own process group: the one-file binary is two processes (the bootloader and Python), and
    a test that fails half-way must not leave the second one behind."""
    return subprocess.Popen(command, start_new_session=True, stdin=subprocess.DEVNULL, **kwargs)


def kill_group(*procs: subprocess.Popen | None) -> None:
    for proc in procs:
        if proc is None:
            continue
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def stop(proc: subprocess.Popen, timeout: float = 10) -> tuple[int, float]:
    """SIGTERM; returns (exit code, seconds to exit). Kills (and fails later) past `timeout`."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        return -999, time.monotonic() - started
    return code, time.monotonic() - started


def fingerprint_of(cert_pem: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(cert_pem.read_text())
    return ":".join(f"{b:02x}" for b in hashlib.sha256(der).digest())


def env_file_values(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def fake_browser(root: Path) -> tuple[Path, Path]:
    """A BROWSER that records the URL it was asked to open and the LD_LIBRARY_PATH it got."""
    record = root / "browser-opened.txt"
    script = root / "fake-browser"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n%s\\n" "$1" "${{LD_LIBRARY_PATH-unset}}" >> "{record}"\n')
    script.chmod(0o755)
    return script, record


def node_peer_module():
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import node_peer

    return node_peer


# -- the binary ------------------------------------------------------------------------------------

@pytest.mark.timeout(900)
def test_binary_is_one_frozen_file_stamped_with_its_commit(binary):
    assert binary.is_file() and os.access(binary, os.X_OK)
    assert not (REPO / "bilbycast" / "_build_info.py").exists(), "the build info belongs in the bundle only"
    result = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=60,
                            env={"PATH": os.environ["PATH"], "HOME": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    assert "frozen: yes" in result.stdout
    commit = re.search(r"^commit: (\S+)$", result.stdout, flags=re.M).group(1)
    assert commit not in ("source", "unknown"), result.stdout
    help_text = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=60).stdout
    for command in ("setup", "serve", "user", "rotate-master-key", "simulate", "version", "--no-browser"):
        assert command in help_text, command
    size_mb = binary.stat().st_size / 1e6
    assert size_mb < 90, f"{size_mb:.1f} MB: something large crept into the bundle (target 45 MB)"


@pytest.mark.timeout(900)
def test_first_run_serves_an_edge_and_stops_cleanly(binary, tmp_path):
    root = tmp_path
    exe = root / "bin" / "bilbycast-manager"  # a copy outside the repository: nothing read from the source tree
    exe.parent.mkdir()
    shutil.copy2(binary, exe)
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    browser, opened = fake_browser(root)
    env = laptop_env(root, port, DISPLAY=":99", BROWSER=str(browser), LD_LIBRARY_PATH="/users/own/libs")
    work = root / "work"
    work.mkdir()
    out_path, err_path = root / "first.out", root / "first.err"
    config_dir = root / "xdg-config" / "bilbycast-manager"
    data_dir = root / "xdg-data" / "bilbycast-manager"
    log_file = root / "xdg-state" / "bilbycast-manager" / "log" / "manager.log"
    sim = None

    # 1. No arguments: set up, serve, banner, browser.
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = launch([str(exe)], cwd=work, env=env, stdout=out, stderr=err)
    try:
        wait_healthy(proc, base, err_path, timeout=60)
        stdout = wait_for(lambda: banner_in(out_path), 15, "the first-run banner")
        password = re.search(r"password \(shown once[^)]*\): (\S+)", stdout).group(1)
        assert stdout.count(password) == 1, "the generated password is printed exactly once"
        assert 'Sign in as "admin"' in stdout
        assert f"{base}/dashboard" in stdout

        # Directories, secrets and certificate where platformdirs puts them.
        secrets_file = config_dir / "manager.env"
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        secrets = env_file_values(secrets_file)
        assert re.fullmatch(r"[0-9a-f]{64}", secrets["BILBYCAST_JWT_SECRET"])
        assert re.fullmatch(r"[0-9a-f]{64}", secrets["BILBYCAST_MASTER_KEY"])
        assert (config_dir / "config.toml").is_file()
        assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE((data_dir / "tls" / "key.pem").stat().st_mode) == 0o600
        fingerprint = fingerprint_of(data_dir / "tls" / "cert.pem")
        assert fingerprint in stdout, "the banner shows the certificate fingerprint"
        assert "accept_self_signed_cert: true" in stdout and "BILBYCAST_ALLOW_INSECURE=1" in stdout

        # The dashboard was opened, with the user's own library path (not the bundle's).
        lines = wait_for(lambda: opened.exists() and opened.read_text().splitlines(), 10, "the browser")
        assert lines[:2] == [f"{base}/dashboard", "/users/own/libs"], lines

        # Assets come from inside the bundle.
        assert httpx.get(base + "/login", verify=False).status_code == 200
        css = httpx.get(base + "/static/dist/app.css", verify=False)
        assert css.status_code == 200 and len(css.content) > 1000

        # 2. Sign in with the printed password; the forced change comes first.
        with httpx.Client(base_url=base, verify=False, timeout=30) as client:
            login = client.post("/api/v1/auth/login", json={"username": "admin", "password": password,
                                                           "return_token": True})
            assert login.status_code == 200, login.text
            assert login.json()["user"]["must_change_password"] is True
            session_token = login.json()["token"]
            api = {"Authorization": f"Bearer {session_token}"}
            assert client.post("/api/v1/nodes", json={"name": "too-early"}, headers=api).status_code == 403
            changed = client.post("/api/v1/auth/password", headers=api,
                                  json={"current_password": password, "new_password": NEW_PASSWORD})
            assert changed.status_code == 200, changed.text

            # 3. A simulated edge (the binary's own `simulate`) registers and comes online.
            created = client.post("/api/v1/nodes", json={"name": "smoke-edge", "device_type": "edge"}, headers=api)
            assert created.status_code == 201, created.text
            node = created.json()
            assert node["cert_fingerprint_sha256"] == fingerprint
            sim_out = root / "simulate.out"
            with open(sim_out, "wb") as handle:
                sim = launch(
                    [str(exe), "simulate", "--token", node["registration_token"], "--insecure",
                     "--url", f"wss://127.0.0.1:{port}/ws/node", "--state-file", str(root / "sim-state.json")],
                    cwd=work, env={k: v for k, v in env.items() if k != "DISPLAY"}, stdout=handle,
                    stderr=subprocess.STDOUT)

            def online():
                return client.get(f"/api/v1/nodes/{node['id']}", headers=api).json()["status"] == "online"
            wait_for(online, 45, "the simulated edge to come online", interval=0.5)
            wait_for(lambda: client.get(f"/api/v1/nodes/{node['id']}", headers=api).json()["summary"], 15,
                     "the simulated edge's first stats")

            # A second node, spoken by the test, to see what nodes are told at shutdown.
            second = client.post("/api/v1/nodes", json={"name": "smoke-peer"}, headers=api).json()

        node_peer = node_peer_module()

        async def shut_down() -> tuple[int | None, list, int, float]:
            peer = await node_peer.registered_peer(f"wss://127.0.0.1:{port}", second["registration_token"])
            for i in range(20):
                await peer.send_event(severity="info", category="smoke", message=f"smoke event {i}")
            # The manager handles a connection's frames in order, so its Pong means all 20 events
            # were taken in; their database writes may still be queued when SIGTERM arrives.
            pong = asyncio.get_running_loop().create_future()
            peer.ws.on_pong = lambda data: pong.done() or pong.set_result(data)
            peer.ws.ping(b"after-the-events")
            await asyncio.wait_for(pong, 10)
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            close_code = await peer.wait_closed(10)
            loop = asyncio.get_running_loop()
            exit_code = await loop.run_in_executor(None, proc.wait, 10)
            unexpected = [f for f in peer.received if isinstance(f, dict) and f.get("type") not in
                          ("command", "auth_ok", "register_ack")]
            return close_code, unexpected, exit_code, time.monotonic() - started

        # 4. SIGTERM: exit 0 within 10 s, nodes told "going away", queued writes flushed.
        close_code, unexpected, exit_code, took = asyncio.run(shut_down())
        assert exit_code == 0, err_path.read_text()
        assert took < 10, f"shutdown took {took:.1f} s"
        assert close_code == 1001, close_code
        assert unexpected == [], unexpected
        assert "Traceback" not in err_path.read_text()

        with sqlite3.connect(data_dir / "manager.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            stored = db.execute("SELECT count(*) FROM events WHERE node_id = ? AND category = 'smoke'",
                                (second["id"],)).fetchone()[0]
            assert stored == 20, f"{stored} of the 20 events reached the database"
            assert db.execute("SELECT count(*) FROM events WHERE node_id = ?", (node["id"],)).fetchone()[0] >= 1
            assert db.execute("SELECT last_seen_at FROM nodes WHERE id = ?", (node["id"],)).fetchone()[0]
            assert db.execute("SELECT must_change_password FROM users WHERE username = 'admin'").fetchone() == (0,)

        # The simulator outlives the manager (it retries) and stops cleanly itself.
        sim_code, _ = stop(sim, timeout=10)
        assert sim_code == 0, sim_out.read_text()
        assert "Traceback" not in sim_out.read_text()
        sim = None
        wait_for(lambda: not list((root / "tmp").glob("_MEI*")), 5, "the unpacked bundles to be removed")

        # 5. No secret in any log (the first password is on stdout once, by design, and nowhere else).
        sim_state = json.loads((root / "sim-state.json").read_text())
        node_secrets = [n.get("node_secret") for n in sim_state.get("nodes", []) if n.get("node_secret")]
        assert node_secrets, sim_state
        logs = {"log file": log_file.read_text(), "stderr": err_path.read_text(),
                "simulator": sim_out.read_text()}
        forbidden = {"jwt secret": secrets["BILBYCAST_JWT_SECRET"], "master key": secrets["BILBYCAST_MASTER_KEY"],
                     "first password": password, "new password": NEW_PASSWORD, "session token": session_token,
                     "registration token": node["registration_token"],
                     "second token": second["registration_token"], "node secret": node_secrets[0]}
        for where, text in logs.items():
            for what, value in forbidden.items():
                assert value not in text, f"{what} in the {where}"
        assert "bilbycast-manager listening" in logs["log file"]

        # 6. Run it again the same way: nothing is asked or printed twice, the data is kept, and
        #    --no-browser keeps the browser closed. A third start finds it running and says so.
        opened_before = opened.read_text()
        again_out = root / "again.out"
        with open(again_out, "wb") as out:
            proc = launch([str(exe), "--no-browser"], cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
        wait_healthy(proc, base, again_out)
        wait_for(lambda: banner_in(again_out), 15, "the banner")
        text = again_out.read_text()
        assert "password (shown once" not in text and "users already exist" in text
        assert "kept existing secrets file" in text and "Sign in as" not in text
        with httpx.Client(base_url=base, verify=False, timeout=30) as client:
            login = client.post("/api/v1/auth/login", json={"username": "admin", "password": NEW_PASSWORD})
            assert login.status_code == 200, login.text
        third = subprocess.run([str(exe)], cwd=work, env=env, capture_output=True, text=True, timeout=60)
        assert third.returncode == 0 and "already running" in third.stdout, third.stdout + third.stderr
        code, took = stop(proc)
        assert code == 0 and took < 10, again_out.read_text()
        assert opened.read_text() == opened_before + f"https://localhost:{port}/dashboard\n/users/own/libs\n", \
            "only the third start (no --no-browser) opened the running dashboard"
    finally:
        kill_group(proc, sim)


def _mdwe_supported() -> bool:
    """Linux >= 6.3 can refuse W+X memory per process (PR_SET_MDWE), the same rule systemd's
    MemoryDenyWriteExecute= enforces with seccomp."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(66, 0, 0, 0, 0) >= 0  # PR_GET_MDWE


MDWE_EXEC = ("import ctypes, os, sys\n"
             "assert ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) == 0\n"  # PR_SET_MDWE, REFUSE_EXEC_GAIN
             "os.execv(sys.argv[1], sys.argv[1:])\n")


@pytest.mark.timeout(900)
@pytest.mark.skipif(not _mdwe_supported(), reason="the kernel has no PR_SET_MDWE (Linux < 6.3)")
def test_the_appliance_build_runs_with_memory_deny_write_execute(binary, tmp_path):
    """packaging/bilbycast-manager.service sets MemoryDenyWriteExecute=yes: the bundle (bootloader,
    Python, cryptography, sqlite) must never need writable+executable memory."""
    exe = ONEDIR / "bilbycast-manager" if (ONEDIR / "bilbycast-manager").exists() else binary
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    env = laptop_env(tmp_path, port)
    env.update({"CONFIGURATION_DIRECTORY": str(tmp_path / "etc"), "STATE_DIRECTORY": str(tmp_path / "state"),
                "INVOCATION_ID": "0" * 32})  # what systemd sets: logs go to stderr (journald)
    wrapped = [sys.executable, "-c", MDWE_EXEC, str(exe)]
    setup = subprocess.run(wrapped + ["setup", "--generate-secrets", "--username", "admin", "--password-stdin"],
                           input=NEW_PASSWORD + "\n", env=env, capture_output=True, text=True, timeout=120)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    again = subprocess.run(wrapped + ["setup", "--generate-secrets"], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120)  # the unit's ExecStartPre, every start
    assert again.returncode == 0 and "users already exist" in again.stdout, again.stdout + again.stderr
    output = tmp_path / "serve.out"
    sim = None
    with open(output, "wb") as out:
        proc = launch(wrapped + ["serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_healthy(proc, base, output)
        with httpx.Client(base_url=base, verify=False, timeout=30) as client:
            token = client.post("/api/v1/auth/login", json={"username": "admin", "password": NEW_PASSWORD,
                                                            "return_token": True}).json()["token"]
            api = {"Authorization": f"Bearer {token}"}
            node = client.post("/api/v1/nodes", json={"name": "mdwe-edge"}, headers=api).json()
            sim = launch(wrapped + ["simulate", "--token", node["registration_token"], "--insecure",
                                    "--url", f"wss://127.0.0.1:{port}/ws/node",
                                    "--state-file", str(tmp_path / "sim.json")],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for(lambda: client.get(f"/api/v1/nodes/{node['id']}", headers=api).json()["status"] == "online",
                     45, "the simulated edge under MDWE", interval=0.5)
        code, took = stop(proc)
        assert code == 0 and took < 10, output.read_text()
        assert "Traceback" not in output.read_text()
    finally:
        kill_group(proc, sim)


# -- the .deb --------------------------------------------------------------------------------------

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed (not a Debian host)")


@pytest.fixture(scope="session")
def deb_package(binary) -> Path:
    from bilbycast import __version__

    result = subprocess.run(["bash", "packaging/build-deb.sh", "--no-build", "--fast"], cwd=REPO, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    deb = DIST / f"bilbycast-manager_{__version__}_{arch}.deb"
    assert deb.is_file(), result.stdout
    return deb


def _can_isolate_an_install() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("dpkg") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.timeout(900)
@needs_dpkg
def test_deb_has_the_one_dir_build_unit_config_and_maintainer_scripts(deb_package, tmp_path):
    from bilbycast import __version__

    deb = deb_package
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    info = subprocess.run(["dpkg-deb", "--info", str(deb)], capture_output=True, text=True, check=True).stdout
    for field in ("Package: bilbycast-manager", f"Version: {__version__}", f"Architecture: {arch}",
                  "Depends: adduser", "Maintainer:", "Description:"):
        assert field in info, field
    for script in ("postinst", "prerm", "postrm", "conffiles", "control"):
        assert re.search(rf"\s{script}\s", info), script

    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True).stdout
    entries = {}
    for line in listing.splitlines():
        parts = line.split(None, 5)
        entries[parts[5].split(" -> ")[0]] = line
    for path in ("./usr/lib/bilbycast-manager/bilbycast-manager",
                 "./usr/lib/bilbycast-manager/_internal/assets/dist/app.css",
                 "./usr/lib/bilbycast-manager/_internal/assets/html/app.html",
                 "./usr/bin/bilbycast-manager", "./etc/bilbycast-manager/config.toml",
                 "./lib/systemd/system/bilbycast-manager.service",
                 "./usr/share/applications/bilbycast-manager.desktop",
                 "./usr/share/icons/hicolor/scalable/apps/bilbycast-manager.svg",
                 "./usr/share/doc/bilbycast-manager/copyright"):
        assert path in entries, path
    assert entries["./usr/bin/bilbycast-manager"].startswith("l")
    assert "-> ../lib/bilbycast-manager/bilbycast-manager" in entries["./usr/bin/bilbycast-manager"]
    assert all(" root/root " in line for line in entries.values()), "every file is owned by root"
    assert not any("/var/lib" in path for path in entries), "state is created at install, never shipped"
    assert not any(path.endswith("manager.env") for path in entries), "secrets are generated, never shipped"

    extracted = tmp_path / "root"
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(extracted)], check=True)
    subprocess.run(["dpkg-deb", "-e", str(deb), str(control)], check=True)
    assert (control / "conffiles").read_text().split() == ["/etc/bilbycast-manager/config.toml"]
    for script in ("postinst", "prerm", "postrm"):
        path = control / script
        assert os.access(path, os.X_OK), script
        assert subprocess.run(["sh", "-n", str(path)]).returncode == 0, script
    postinst, postrm = (control / "postinst").read_text(), (control / "postrm").read_text()
    assert "adduser --system" in postinst and "setup --generate-secrets" in postinst
    branches = dict(re.findall(r"^\s+([a-z|-]+)\)\n(.*?);;", postrm, flags=re.M | re.S))
    assert "rm -rf /var/lib/bilbycast-manager" in branches["purge"]
    assert postrm.count("rm -rf") == 1, "only a purge deletes the data"
    assert "upgrade" not in branches and "rm " not in branches["remove"]

    config = tomllib.loads((extracted / "etc/bilbycast-manager/config.toml").read_text())
    assert config["paths"]["data_dir"] == "/var/lib/bilbycast-manager"
    unit = (extracted / "lib/systemd/system/bilbycast-manager.service").read_text()
    for directive in ("User=bilbycast", "DynamicUser=no", "StateDirectory=bilbycast-manager",
                      "ConfigurationDirectory=bilbycast-manager",
                      "EnvironmentFile=-/etc/bilbycast-manager/manager.env", "NoNewPrivileges=yes",
                      "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
                      "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "MemoryDenyWriteExecute=yes",
                      "SystemCallFilter=@system-service", "Restart=on-failure",
                      "ExecStartPre=/usr/bin/bilbycast-manager setup --generate-secrets",
                      "ExecStart=/usr/bin/bilbycast-manager serve"):
        assert re.search(rf"^{re.escape(directive)}$", unit, flags=re.M), directive
    version = subprocess.run([str(extracted / "usr/lib/bilbycast-manager/bilbycast-manager"), "version"],
                             capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and "frozen: yes" in version.stdout, version.stdout + version.stderr


@pytest.mark.timeout(900)
@needs_dpkg
@pytest.mark.skipif(not _can_isolate_an_install(),
                    reason="needs root and a private mount namespace (unshare) to install the .deb in isolation")
def test_deb_installs_runs_upgrades_removes_and_purges(deb_package):
    """packaging/test-deb-cycle.sh: dpkg, adduser and the maintainer scripts for real, inside overlays
    that vanish afterwards; the unit's commands run as bilbycast on a read-only /etc and /usr."""
    result = subprocess.run(["bash", "packaging/test-deb-cycle.sh", str(deb_package)], cwd=REPO,
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "DEB_CYCLE_PORT": str(free_port())})
    checks = [line for line in result.stdout.splitlines() if line.startswith("CHECK")]
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    expected = 8 if shutil.which("systemd-analyze") else 7
    assert len([c for c in checks if c.startswith("CHECK ok")]) == expected, checks


# -- from source: the browser rules and the banner ---------------------------------------------------

def test_a_browser_is_opened_only_where_there_is_a_display():
    from bilbycast.firstrun import display_available

    assert display_available({"DISPLAY": ":0"}, "linux")
    assert display_available({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not display_available({}, "linux")  # ssh session, appliance, systemd
    assert not display_available({"DISPLAY": ""}, "freebsd14")
    assert display_available({}, "darwin") and display_available({}, "win32")


def test_the_browser_gets_the_users_library_path_back(monkeypatch):
    from bilbycast import firstrun

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    bundle = {"LD_LIBRARY_PATH": "/tmp/_MEI123", "LD_LIBRARY_PATH_ORIG": "/opt/lib", "X": "1"}
    assert firstrun.child_environment(bundle) == {"LD_LIBRARY_PATH": "/opt/lib", "X": "1"}
    assert firstrun.child_environment({"LD_LIBRARY_PATH": "/tmp/_MEI123"}) == {}
    monkeypatch.setattr(sys, "frozen", False)
    assert firstrun.child_environment({"LD_LIBRARY_PATH": "/mine"}) == {"LD_LIBRARY_PATH": "/mine"}


def test_the_dashboard_url_prefers_this_machine():
    from bilbycast.firstrun import dashboard_url

    assert dashboard_url(["https://localhost:8443", "https://10.0.0.5:8443"]) == "https://localhost:8443/dashboard"
    assert dashboard_url(["https://manager.example.net"]) == "https://manager.example.net/dashboard"
    assert dashboard_url([]) is None


def _config(**changes):
    from bilbycast.config import load_config

    values = {"BILBYCAST_DATA_DIR": "/data", "BILBYCAST_LOG_DIR": "/logs", **changes}
    return load_config(Path("/cfg/config.toml"), values)


def test_the_banner_says_how_nodes_trust_each_kind_of_certificate():
    from bilbycast.firstrun import banner_text

    fp = ":".join(["ab"] * 32)
    urls = ["https://localhost:8443", "https://10.0.0.5:8443"]
    self_signed = banner_text(urls, _config(), 8443, SimpleNamespace(fingerprint_sha256=fp, is_self_signed=True),
                              new_admin="admin")
    assert "https://localhost:8443/dashboard" in self_signed
    assert "wss://10.0.0.5:8443/ws/node" in self_signed
    assert "accept_self_signed_cert: true" in self_signed and "BILBYCAST_ALLOW_INSECURE=1" in self_signed
    assert fp in self_signed and 'Sign in as "admin"' in self_signed
    assert 'cert_fingerprint: "' not in self_signed

    public = banner_text(["https://manager.example.net"], _config(), 8443,
                         SimpleNamespace(fingerprint_sha256=fp, is_self_signed=False), new_admin=None)
    assert f'cert_fingerprint: "{fp}"' in public
    assert "accept_self_signed_cert" not in public and "BILBYCAST_ALLOW_INSECURE" not in public
    assert "Sign in as" not in public

    proxied = banner_text(["http://127.0.0.1:8443"], _config(BILBYCAST_TLS_MODE="behind_proxy"), 8443, None,
                          new_admin=None)
    assert "reverse proxy" in proxied and "ws://127.0.0.1:8443/ws/node" in proxied


def test_from_source_no_command_is_still_a_usage_error():
    """Only the frozen binary starts up without a command; `python manager.py` prints the help."""
    result = subprocess.run([sys.executable, str(REPO / "manager.py")], capture_output=True, text=True,
                            cwd=REPO, timeout=60, env={**os.environ, "HOME": "/nonexistent"})
    assert result.returncode == 2 and "usage:" in result.stdout
