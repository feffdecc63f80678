"""Figures for the one-file binary (issue 6): size, cold start to /health 200, idle RSS.

    .venv/bin/python bench/binary.py [--runs 5] [--idle 10] [--rebuild] [--json]

Builds dist/bilbycast-manager with build/binary.sh when it is missing or older than the sources
(or with --rebuild), otherwise reuses it. Then:

- size of the file;
- cold start: the binary run with no arguments in a fresh temporary home (HOME, XDG dirs and
  TMPDIR all new), from exec to the first /health 200. That includes unpacking the bundle, the
  first-run setup (secrets, database, certificate, first admin) and binding. Median of --runs;
- warm restart: the same, with the data already set up (`serve` on the existing directories);
- idle RSS: --idle seconds after the last start, both processes of the one-file binary (the
  bootloader and Python).

Targets: size <= 45 MB, cold start <= 2 s, idle RSS <= 90 MB. These are figures, not tests: the
exit code is 0 either way, unless the binary cannot be built or does not start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "dist" / "bilbycast-manager"
TARGETS = {"size_mb": 45.0, "cold_start_s": 2.0, "idle_rss_mb": 90.0}
SOURCE_GLOBS = ("manager.py", "bilbycast/**/*.py", "assets/css/**/*", "assets/html/**/*", "assets/js/**/*",
                "assets/img/**/*", "build/bilbycast-manager.spec", "build/binary.sh", "build/requirements.txt",
                "build/package-lock.json")


def newest_source() -> float:
    return max((p.stat().st_mtime for g in SOURCE_GLOBS for p in ROOT.glob(g)
                if p.is_file() and "__pycache__" not in p.parts), default=0.0)


def ensure_binary(rebuild: bool) -> str:
    if not rebuild and BINARY.exists() and BINARY.stat().st_mtime >= newest_source():
        return "reused"
    started = time.monotonic()
    subprocess.run(["bash", str(ROOT / "build" / "binary.sh"), "--no-bootstrap"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return f"built in {time.monotonic() - started:.0f} s"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def laptop_env(root: Path, port: int) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(root / "home"),
           "XDG_CONFIG_HOME": str(root / "config"), "XDG_DATA_HOME": str(root / "data"),
           "XDG_STATE_HOME": str(root / "state"), "XDG_CACHE_HOME": str(root / "cache"),
           "TMPDIR": str(root / "tmp"), "BILBYCAST_PORT": str(port), "BILBYCAST_LISTEN": "127.0.0.1"}
    for key in ("HOME", "TMPDIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    return env


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (independent of how busy the machine is)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def start(exe: Path, args: list[str], env: dict[str, str], port: int,
          timeout: float = 60) -> tuple[subprocess.Popen, float, float]:
    """Launch; return (process, seconds from exec to the first /health 200, CPU seconds used by then)."""
    url = f"https://127.0.0.1:{port}/health"
    with httpx.Client(verify=False, timeout=1) as client:
        started = time.perf_counter()
        proc = subprocess.Popen([str(exe), *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        while time.perf_counter() - started < timeout:
            try:
                if client.get(url).status_code == 200:
                    wall = time.perf_counter() - started
                    return proc, wall, cpu_seconds(process_tree(proc.pid))
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"the binary exited with {proc.returncode} before /health answered")
            time.sleep(0.005)
    stop(proc)
    raise SystemExit(f"no /health 200 within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pids
    for child in children:
        pids += process_tree(int(child))
    return pids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds idle before reading RSS")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--binary", type=Path, default=BINARY, help="measure this binary instead (no build)")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()

    how = ensure_binary(args.rebuild) if args.binary == BINARY else "given"
    exe_source = args.binary
    version = subprocess.run([str(exe_source), "version"], capture_output=True, text=True, check=True).stdout
    commit = next((l.split(": ", 1)[1] for l in version.splitlines() if l.startswith("commit: ")), "?")
    size = exe_source.stat().st_size

    cold, warm, cold_cpu, warm_cpu = [], [], [], []
    idle: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bilbycast-bench-") as tmp:
        exe = Path(tmp) / "bilbycast-manager"  # a copy, so nothing can come from the source tree
        shutil.copy2(exe_source, exe)
        for run in range(args.runs):
            root = Path(tmp) / f"run{run}"
            port = free_port()
            env = laptop_env(root, port)
            proc, seconds, cpu = start(exe, ["--no-browser"], env, port)
            cold.append(seconds)
            cold_cpu.append(cpu)
            stop(proc)
            proc, seconds, cpu = start(exe, ["serve"], env, port)
            warm.append(seconds)
            warm_cpu.append(cpu)
            if run < args.runs - 1:
                stop(proc)
        time.sleep(args.idle)
        tree = process_tree(proc.pid)
        per_process = {pid: rss_kb(pid) for pid in tree}
        idle = {"total_mb": sum(per_process.values()) / 1024,
                "python_mb": max(per_process.values()) / 1024,
                "bootloader_mb": per_process.get(proc.pid, 0) / 1024 if len(tree) > 1 else 0.0,
                "processes": len(tree)}
        stop(proc)

    figures = {
        "commit": commit, "platform": f"{platform.system()} {platform.machine()}", "cpus": os.cpu_count(),
        "size_mb": size / 1e6, "size_mib": size / 2 ** 20,
        "cold_start_s": statistics.median(cold), "cold_start_runs_s": [round(s, 3) for s in cold],
        "cold_start_cpu_s": statistics.median(cold_cpu),
        "warm_start_s": statistics.median(warm), "warm_start_runs_s": [round(s, 3) for s in warm],
        "warm_start_cpu_s": statistics.median(warm_cpu), "load_average": os.getloadavg()[0],
        "idle_rss_mb": idle["total_mb"], "idle_rss_python_mb": idle["python_mb"],
        "idle_rss_bootloader_mb": idle["bootloader_mb"], "idle_secs": args.idle,
    }

    def verdict(key: str) -> str:
        return "OK" if figures[key] <= TARGETS[key] else "OVER TARGET"

    print(f"bilbycast-manager binary ({how}; commit {commit}; {figures['platform']}, {figures['cpus']} CPUs, "
          f"load average {figures['load_average']:.1f})")
    print(f"  size                                  {figures['size_mb']:6.1f} MB ({figures['size_mib']:.1f} MiB)"
          f"   target <= {TARGETS['size_mb']:.0f} MB   {verdict('size_mb')}")
    print(f"  cold start to /health 200 (first run) {figures['cold_start_s']:6.2f} s  median of {len(cold)}"
          f" {figures['cold_start_runs_s']}   target <= {TARGETS['cold_start_s']:.0f} s   {verdict('cold_start_s')}")
    print(f"    CPU used by then                    {figures['cold_start_cpu_s']:6.2f} s  (wall time above this"
          f" is waiting: I/O or a busy machine)")
    print(f"  restart to /health 200 (set up)       {figures['warm_start_s']:6.2f} s  median of {len(warm)}"
          f" {figures['warm_start_runs_s']}, CPU {figures['warm_start_cpu_s']:.2f} s")
    print(f"  idle RSS after {args.idle:.0f} s                   {figures['idle_rss_mb']:6.1f} MB"
          f" (Python {figures['idle_rss_python_mb']:.1f} + bootloader {figures['idle_rss_bootloader_mb']:.1f})"
          f"   target <= {TARGETS['idle_rss_mb']:.0f} MB   {verdict('idle_rss_mb')}")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
