"""Run many simulated nodes in one asyncio loop (demo fleet, load generator, test peer).

Scaling notes (5000 nodes in one process): no threads per node — each node is one main task
plus, while connected, one ticker task; timers are phase-jittered so the fleet does not fire
in the same millisecond; one shared JSON encoder (:mod:`.wire`), one shared TLS context, one
shared options object and shared constant payload parts (:mod:`.telemetry`); start-up is
ramped; state-file writes are coalesced (:class:`.state.StateStore`).

Where a fleet's nodes come from:

(a) ``token``: one node enrolling with that registration token;
(b) the state file: entries with credentials reconnect, token-only entries register (their
    credentials are written back, atomically, mode 0600);
(c) the manager's REST API: ``POST {api_url}/api/v1/nodes`` (Bearer token) for every wanted
    name missing from the state file; the returned ``registration_token`` goes into the state
    file before any node connects;
(d) a ``provisioner`` callable given by the embedding program (e.g. the main CLI creating
    node records directly in its local database).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Awaitable, Callable
from urllib.parse import urlsplit

from .node import NodeOptions, SimulatedNode, build_ssl_context
from .relay_model import TunnelRegistry
from .state import StateStore, has_credentials

log = logging.getLogger("bilbycast.simulator")

DEVICE_TYPES = ("edge", "relay", "appear_x")
Provisioner = Callable[[str, str], Awaitable[str]]


class FleetError(Exception):
    """A problem the user must fix (bad arguments, API refused)."""

    def __init__(self, message: str, *, usage: bool = False):
        super().__init__(message)
        self.usage = usage


def node_names(prefix: str, device_type: str, count: int) -> list[str]:
    width = max(2, len(str(count)))
    return [f"{prefix}{device_type}-{i:0{width}d}" for i in range(1, count + 1)]


def api_base_from_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


async def create_via_api(api_url: str, api_token: str, wanted: list[tuple[str, str]], *,
                         verify=True, concurrency: int = 8) -> dict[str, str]:
    """POST /api/v1/nodes for each (name, device_type); returns name → registration_token."""
    import httpx

    out: dict[str, str] = {}
    sem = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {api_token}"}
    async with httpx.AsyncClient(base_url=api_url.rstrip("/"), headers=headers, verify=verify,
                                 timeout=30.0) as client:
        async def one(name: str, device_type: str) -> None:
            async with sem:
                try:
                    resp = await client.post("/api/v1/nodes",
                                             json={"name": name, "device_type": device_type})
                except httpx.HTTPError as exc:
                    raise FleetError(f"POST {api_url}/api/v1/nodes failed: {exc}") from None
            if resp.status_code != 201:
                try:
                    body = resp.json()
                    detail = f"{body.get('code')}: {body.get('error')}"
                except ValueError:
                    detail = resp.text[:200]
                raise FleetError(f"creating node {name!r} failed: HTTP {resp.status_code} "
                                 f"({detail})")
            token = resp.json().get("registration_token")
            if not isinstance(token, str) or not token:
                raise FleetError(f"creating node {name!r}: response has no registration_token")
            out[name] = token

        await asyncio.gather(*(one(n, t) for n, t in wanted))
    return out


class Fleet:
    def __init__(self, options: NodeOptions, store: StateStore, *, default_flows: int = 2,
                 seed: int | None = None):
        self.options = options
        self.store = store
        self.default_flows = default_flows
        self.registry = TunnelRegistry()
        self.rng = random.Random(seed)
        self.nodes: list[SimulatedNode] = []
        self._stop = asyncio.Event()
        self._last_report: tuple[float, float, int] | None = None

    # ------------------------------------------------------------------ building
    def plan_token(self, token: str, device_type: str, prefix: str) -> None:
        """(a) one node that enrols with ``token`` (a new token means re-provisioning)."""
        name = node_names(prefix, device_type, 1)[0]
        entry = self.store.find(name)
        if entry is None or entry.get("registration_token") != token and not (
                has_credentials(entry) and entry.get("enrolled_with") == token):
            entry = self.store.add({"name": name, "device_type": device_type,
                                    "registration_token": token, "enrolled_with": token})
        self.store.save_now()
        self.add_nodes([entry])

    async def plan(self, wanted: list[tuple[str, str]] | None, *, api_url: str | None = None,
                   api_token: str | None = None, api_verify=True,
                   provisioner: Provisioner | None = None) -> None:
        """(b)/(c)/(d): ``wanted`` = [(name, device_type)], or None for every state entry."""
        if wanted is None:
            entries = list(self.store.entries)
            if not entries:
                raise FleetError("the state file has no nodes: give --count/--relays/--appear-x "
                                 "with --api-token, or --token", usage=True)
        else:
            missing = []
            for name, device_type in wanted:
                entry = self.store.find(name)
                if entry is not None and entry.get("device_type", "edge") != device_type:
                    raise FleetError(f"state entry {name!r} is a {entry.get('device_type')}, "
                                     f"not a {device_type}")
                if entry is None or not (has_credentials(entry)
                                         or entry.get("registration_token")):
                    missing.append((name, device_type))
            if missing:
                tokens = await self._provision(missing, api_url, api_token, api_verify,
                                               provisioner)
                for name, device_type in missing:
                    entry = self.store.find(name) or self.store.add(
                        {"name": name, "device_type": device_type})
                    entry["registration_token"] = tokens[name]
                    if device_type == "edge":
                        entry.setdefault("flows", self.default_flows)
                await self.store.save()     # tokens on disk before any node connects
            entries = [self.store.find(name) for name, _ in wanted]
        usable = []
        for entry in entries:
            if has_credentials(entry) or entry.get("registration_token"):
                usable.append(entry)
            else:
                log.warning("state entry %r has neither credentials nor a token: skipped",
                            entry.get("name"))
        if not usable:
            raise FleetError("no node has credentials or a registration token")
        self.add_nodes(usable)

    async def _provision(self, missing, api_url, api_token, api_verify, provisioner):
        if api_token:
            if not api_url:
                raise FleetError("--api-url is needed (or a --url to derive it from)",
                                 usage=True)
            log.info("creating %d node(s) through %s/api/v1/nodes", len(missing), api_url)
            return await create_via_api(api_url, api_token, missing, verify=api_verify)
        if provisioner is not None:
            return {name: await provisioner(name, dt) for name, dt in missing}
        names = ", ".join(n for n, _ in missing[:3]) + (" …" if len(missing) > 3 else "")
        raise FleetError(f"no credentials or token for {names}: give --api-token (or "
                         f"BILBYCAST_API_TOKEN), --token, or a state file with entries",
                         usage=True)

    def add_nodes(self, entries: list[dict]) -> None:
        base = len(self.nodes)
        for i, entry in enumerate(entries):
            self.nodes.append(SimulatedNode(entry, self.options, store=self.store,
                                            index=base + i, registry=self.registry,
                                            default_flows=self.default_flows))

    # ------------------------------------------------------------------ running
    def start(self, ramp: float | None = None) -> None:
        if self.options.ssl_context is None and any(u.startswith("wss://")
                                                   for u in self.options.urls):
            self.options.ssl_context = build_ssl_context(self.options)
        n = len(self.nodes)
        self._last_report = (time.monotonic(), time.process_time(), 0)
        for node in self.nodes:
            node.verbose = n <= 20
        if ramp is None:
            ramp = min(10.0, n * 0.002)
        for i, node in enumerate(self.nodes):
            delay = (ramp * i / n + self.rng.uniform(0, 0.05)) if n > 1 and ramp > 0 else 0.0
            node.start(delay)

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self, duration: float = 0.0, ramp: float | None = None,
                  report_every: float = 10.0) -> None:
        self.start(ramp)
        deadline = time.monotonic() + duration if duration > 0 else None
        try:
            while not self._stop.is_set():
                timeout = report_every
                if deadline is not None:
                    timeout = min(timeout, max(0.0, deadline - time.monotonic()))
                try:
                    await asyncio.wait_for(self._stop.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self.report()
        finally:
            await self.stop()

    def report(self) -> None:
        connected = sum(1 for n in self.nodes if n.connected)
        failures = {n.last_auth_error for n in self.nodes
                    if n.last_auth_error and not n.connected}
        frames = sum(n.frames_sent for n in self.nodes)
        now, cpu = time.monotonic(), time.process_time()
        last = self._last_report or (now, cpu, 0)
        span = max(1e-6, now - last[0])
        self._last_report = (now, cpu, frames)
        log.info("fleet: %d/%d connected, %d frames sent (%.0f/s), cpu %.0f%%%s", connected,
                 len(self.nodes), frames, (frames - last[2]) / span,
                 100.0 * (cpu - last[1]) / span,
                 f", auth errors: {sorted(failures)[:3]}" if failures else "")

    async def stop(self) -> None:
        await asyncio.gather(*(n.stop() for n in self.nodes), return_exceptions=True)

    async def wait_connected(self, count: int | None = None, timeout: float = 10.0) -> bool:
        """Test helper: wait until ``count`` (default all) nodes are authenticated."""
        want = len(self.nodes) if count is None else count
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if sum(1 for n in self.nodes if n.connected) >= want:
                return True
            await asyncio.sleep(0.02)
        return False


def wanted_nodes(prefix: str, device_type: str, count: int, relays: int,
                 appear_x: int) -> list[tuple[str, str]]:
    plan = {t: 0 for t in DEVICE_TYPES}
    plan[device_type] += count
    plan["relay"] += relays
    plan["appear_x"] += appear_x
    out = []
    for t in DEVICE_TYPES:
        out.extend((name, t) for name in node_names(prefix, t, plan[t]))
    return out
