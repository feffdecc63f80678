"""Quality checklist items 2 and 3 (product.md §6): drivers survive malformed, empty and
oversized payloads, and summarise/history stay under 1 ms for a 50-flow stats message."""

from __future__ import annotations

import copy
import json
import random
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bilbycast.drivers.base import ActionError
from bilbycast.drivers.registry import default_registry

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "spec" / "examples"
NOW = datetime(2026, 5, 1, 10, 0, 6, tzinfo=timezone.utc)
REGISTRY = default_registry()
# Keys the drivers read, so random documents hit real code paths rather than being ignored.
KEYS = ["flows", "input", "outputs", "tunnels", "stats", "state", "health", "health_reasons", "bitrate_bps",
        "flow_id", "output_id", "id", "type", "mode", "local_addr", "bind_addr", "dest_addr", "inputs",
        "input_ids", "output_ids", "system_resources", "cpu_percent", "total_flows", "active_flows",
        "gateway_target", "reachable", "alarms", "severity", "status", "uptime_secs", "ip_input_status",
        "bitrates", "value", "effectiveFlowBitrate", "passphrase", "server", "listen_port", "listen_addr",
        "version", "config", "flow", "tunnel_id", "slot", "key", "consecutive_failures", "details",
        "alarm_id", "category", "message", "network_interfaces", "ipv4", "api_addr", "bitrate_in_bps"]

SAMPLES = {
    "edge": ["edge-stats.json", "edge-stats-timer.json", "edge-health.json", "edge-config-response.json"],
    "relay": ["relay-stats.json", "relay-health.json", "relay-config-response.json"],
    "appear_x": ["appearx-stats.json", "appearx-health.json", "appearx-health-discovery.json",
                 "appearx-health-heartbeat.json"],
}


def payload(name: str):
    return json.loads((EXAMPLES / name).read_text())["payload"]


def random_json(rng: random.Random, depth: int = 0):
    choice = rng.randrange(10 if depth < 4 else 7)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 1, 2**64, 9000, 65536, 3])
    if choice == 3:
        return rng.choice([0.5, -3.25, 1e308, float("nan"), float("inf")])
    if choice in (4, 5, 6):
        return rng.choice(["", "Running", "Healthy", "Warning", "0.0.0.0:9000", "{{secret}}", "MAJOR",
                           "x" * 5000, "[::]:1", "srt", "ok", "critical", "ümlaut", "2026-05-01T10:00:00Z"])
    if choice in (7, 8):
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(KEYS): random_json(rng, depth + 1) for _ in range(rng.randrange(6))}


def mutate(rng: random.Random, value, rate: float = 0.15):
    if rng.random() < rate:
        return random_json(rng)
    if isinstance(value, dict):
        return {k: mutate(rng, v, rate) for k, v in value.items()}
    if isinstance(value, list):
        return [mutate(rng, v, rate) for v in value]
    return value


def exercise(driver, stats, health, config, action) -> None:
    """Every pure entry point the hub and API call; only ActionError may escape."""
    prev = driver.summarise(stats, health, now=NOW)
    json.dumps(prev)
    driver.summarise(stats, health, now=NOW, prev=prev)
    driver.summarise(stats, health, now=NOW, prev=random_json(random.Random(1)))
    driver.history_samples(stats)
    driver.health_samples(health)
    driver.topology_ports(config, stats, health)
    driver.tunnels(config, stats)
    driver.endpoints(config, stats)
    driver.addresses(health)
    driver.mask_config(config)
    driver.mask_action(action)
    driver.merge_health(health if isinstance(health, dict) else None, health, received_at=NOW)
    driver.event_dedupe_key(health)
    driver.ai_state(config, stats, health, now=NOW)
    for call in (lambda: driver.check_action(action, config=config if isinstance(config, dict) else None),
                 lambda: driver.validate_config(config),
                 lambda: driver.restore_secrets(config, stats),
                 lambda: driver.preview(config, action if isinstance(action, dict) else {})):
        try:
            call()
        except ActionError:
            pass


@pytest.mark.parametrize("device_type", sorted(SAMPLES))
def test_drivers_survive_mutated_recorded_payloads(device_type):
    driver = REGISTRY.get(device_type)
    rng = random.Random(f"fuzz-{device_type}")
    documents = [payload(name) for name in SAMPLES[device_type]]
    actions = [{"type": name, **{k: random_json(rng) for k in ("flow_id", "input", "config", "slot")}}
               for name in driver.commands]
    for _ in range(150):
        stats, health, config = (mutate(rng, rng.choice(documents)) for _ in range(3))
        exercise(driver, stats, health, config, mutate(rng, rng.choice(actions), 0.3))


@pytest.mark.parametrize("device_type", sorted(SAMPLES))
@pytest.mark.parametrize("junk", [None, {}, [], "", 0, "flows", {"flows": "x"}, {"flows": [1, None, "x"]},
                                  {"tunnels": {"id": 1}}, {"gateway_target": []}, {"alarms": [None]}])
def test_drivers_survive_empty_and_wrongly_typed_payloads(device_type, junk):
    driver = REGISTRY.get(device_type)
    exercise(driver, junk, junk, junk, junk)
    summary = driver.summarise(junk, junk, now=NOW)
    assert set(summary) >= {"flows_total", "bitrate_bps", "health", "metrics", "updated_at"}


def fifty_flow_stats() -> dict:
    stats = payload("edge-stats.json")
    template = stats["flows"][0]
    stats["flows"] = []
    for index in range(50):
        flow = copy.deepcopy(template)
        flow["flow_id"] = f"flow-{index}"
        flow["input"]["srt_stats"] = {"rtt_ms": 4.2, "pkt_loss_total": 3}
        flow["outputs"] = flow["outputs"] * 2
        stats["flows"].append(flow)
    return stats


def test_summarise_and_history_cost_under_a_millisecond_for_fifty_flows():
    edge = REGISTRY.get("edge")
    stats = fifty_flow_stats()
    for call in (lambda: edge.summarise(stats, None, now=NOW), lambda: edge.history_samples(stats)):
        timings = []
        for _ in range(200):
            start = time.perf_counter()
            call()
            timings.append(time.perf_counter() - start)
        assert statistics.median(timings) < 0.001


def test_oversized_payloads_are_handled():
    edge = REGISTRY.get("edge")
    stats = fifty_flow_stats()
    stats["flows"] = stats["flows"] * 100                 # 5000 flows
    summary = edge.summarise(stats, None, now=NOW)
    assert summary["flows_total"] == 5000
    assert len(edge.history_samples(stats)) > 5000


def recorded_actions(prefix: str) -> list[dict]:
    return [json.loads(path.read_text())["payload"]["action"]
            for path in sorted(EXAMPLES.glob(f"{prefix}-command-*.json"))]


@pytest.mark.parametrize("device_type, prefix", [("edge", "edge"), ("relay", "relay"), ("appear_x", "appearx")])
def test_checks_against_a_malformed_cached_config_never_crash(device_type, prefix):
    driver = REGISTRY.get(device_type)
    rng = random.Random(f"config-{device_type}")
    configs = [payload(name) for name in SAMPLES[device_type]]
    actions = recorded_actions(prefix)
    for _ in range(300):
        config = mutate(rng, rng.choice(configs), rng.choice([0.05, 0.2, 0.5]))
        act = rng.choice(actions)
        try:
            driver.check_action(act, config=config if isinstance(config, dict) else None,
                                capabilities=["ptp", "bonding", "webrtc"])
            driver.expand(act)
        except ActionError:
            pass
        driver.preview(config, act)
        try:
            driver.restore_action_secrets(act, config)
        except ActionError:
            pass
