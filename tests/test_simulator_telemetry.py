"""Telemetry shapes compared key by key with the spec's example frames, and numbers that move."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
from pathlib import Path

import pytest

from bilbycast.simulator.appearx_model import Chassis
from bilbycast.simulator.edge_model import EdgeModel
from bilbycast.simulator.jpeg import build_jpeg
from bilbycast.simulator.relay_model import RelayModel, TunnelRegistry
from bilbycast.simulator.telemetry import EDGE_CAPABILITIES, EdgeTelemetry
from bilbycast.simulator.telemetry_relay import RelayTelemetry, appearx_health, appearx_stats

EXAMPLES = Path(os.environ.get("BILBYCAST_SPEC_DIR",
                               Path(__file__).resolve().parents[2] / "shared" / "spec")) / "examples"
pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="spec examples not found")

# optional blocks the spec documents (§4.2) that our numbers may add to an example's shape
OPTIONAL_FLOW_KEYS = {"health_reasons", "bandwidth_limit_mbps", "bandwidth_exceeded",
                      "bandwidth_blocked", "active_input_id"}
OPTIONAL_IO_KEYS = {"srt_stats", "program_number", "mode", "local_addr", "remote_addr",
                    "bind_addr", "listen_addr", "dest_addr"}


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def assert_shape(ours, ref, path="$", extra=frozenset()):
    """Same keys (plus documented optional ones) and the same JSON types, recursively."""
    if isinstance(ref, dict):
        assert isinstance(ours, dict), path
        missing = set(ref) - set(ours)
        assert not missing, f"{path}: missing {missing}"
        unexpected = set(ours) - set(ref) - set(extra)
        assert not unexpected, f"{path}: unexpected {unexpected}"
        for key in ref:
            assert_shape(ours[key], ref[key], f"{path}.{key}", extra)
    elif isinstance(ref, list):
        assert isinstance(ours, list), path
        if ref and ours:
            assert_shape(ours[0], ref[0], f"{path}[0]", extra)
    elif ref is None:
        pass                                  # null-or-value fields
    elif isinstance(ref, bool):
        assert isinstance(ours, bool), f"{path}: {ours!r} is not a bool"
    elif isinstance(ref, int):
        assert isinstance(ours, int) and not isinstance(ours, bool), f"{path}: {ours!r}"
    elif isinstance(ref, float):
        assert isinstance(ours, float), f"{path}: {ours!r} is not a float"
    else:
        assert isinstance(ours, type(ref)), f"{path}: {ours!r}"


def edge_from_example(rng=None) -> tuple[EdgeModel, EdgeTelemetry, list]:
    events: list = []
    model = EdgeModel(emit=events.append, bind_watch_secs=0, rng=rng or random.Random(1))
    cfg = example("edge-config-response")["payload"]
    push = {k: v for k, v in cfg.items() if k != "manager"}
    push["flows"] = push["flows"] + [{"id": "backup", "name": "Backup", "enabled": False}]

    async def go():
        await model.execute({"type": "update_config", "config": push})
    asyncio.run(go())
    tel = EdgeTelemetry(model, random.Random(2), emit=events.append)
    tel.advance(1.0)
    for fc in tel.flows.values():
        fc.state_until = 0.0                   # skip the connect phase
    for _ in range(6):
        tel.advance(1.0)
    return model, tel, events


def test_edge_stats_shape_matches_example():
    model, tel, events = edge_from_example()
    ours = tel.stats_payload()
    ref = example("edge-stats")["payload"]
    assert set(ours) == set(ref)
    assert ours["total_flows"] == 2 and ours["active_flows"] == 1
    running = next(f for f in ours["flows"] if f["flow_id"] == "main-feed")
    idle = next(f for f in ours["flows"] if f["flow_id"] == "backup")
    assert_shape(running, ref["flows"][0], extra=OPTIONAL_FLOW_KEYS | OPTIONAL_IO_KEYS)
    assert running["state"] == "Running" and running["health"] == "Healthy"
    assert running["input"]["state"] == "receiving" and running["input"]["mode"] == "listener"
    assert running["input"]["srt_stats"]["rtt_ms"] > 0
    assert idle == ref["flows"][1]                                       # quirk 5, exact
    assert_shape(ours["system_resources"], ref["system_resources"])
    assert any(e["message"].startswith("SRT input connected") for e in events)


def test_edge_timer_path_stats_and_tunnel_status():
    model, tel, _ = edge_from_example()
    model.create_tunnel({"tunnel": dict(example("edge-command-create-tunnel-egress")
                                        ["payload"]["action"]["tunnel"],
                                        local_addr="0.0.0.0:9700")})
    tel.advance(1.0)
    ours = tel.stats_payload(timer_path=True)
    ref = example("edge-stats-timer")["payload"]
    assert ours["flows"] == [] and ours["total_flows"] == ours["active_flows"] == 1
    assert set(ours) == set(ref)
    assert_shape(ours["tunnels"][0], ref["tunnels"][0])


def test_edge_health_shape_and_first_beat_quirk():
    model, tel, _ = edge_from_example()
    ref = example("edge-health")["payload"]
    first, second = tel.health_payload(), tel.health_payload()
    assert "rx_bps" not in first["network_interfaces"][0]              # quirk 6
    assert_shape(json.loads(json.dumps(second)), ref)
    assert set(second) == set(ref)
    assert list(second["capabilities"]) == ref["capabilities"] == list(EDGE_CAPABILITIES)
    assert second["status"] == "ok" and second["active_flows"] == second["total_flows"] == 1


def test_numbers_move_and_counters_grow():
    model, tel, _ = edge_from_example()
    seen_bps, last_bytes = set(), 0
    for _ in range(20):
        tel.advance(1.0)
        flow = next(f for f in tel.stats_payload()["flows"] if f["flow_id"] == "main-feed")
        bps = flow["input"]["bitrate_bps"]
        assert 3_000_000 <= bps <= 30_000_000
        assert flow["input"]["bytes_received"] >= last_bytes
        last_bytes = flow["input"]["bytes_received"]
        seen_bps.add(bps)
    assert len(seen_bps) > 10 and last_bytes > 5_000_000
    cpu = tel.stats_payload()["system_resources"]["cpu_percent"]
    assert 0 < cpu < 100


def test_thumbnails_are_valid_jpegs():
    model, tel, _ = edge_from_example()
    thumbs = tel.thumbnails()
    assert thumbs
    key, gen, fc = thumbs[0]
    payload = tel.thumbnail_payload(key, fc)
    assert set(payload) == set(example("edge-thumbnail")["payload"])
    raw = base64.b64decode(payload["data"], validate=True)
    assert raw[:2] == b"\xff\xd8" and raw[-2:] == b"\xff\xd9"
    assert (payload["width"], payload["height"]) == (320, 180)
    inp = tel.thumbnail_payload(("main-feed", "srt-in"), fc)
    assert set(inp) == set(example("edge-thumbnail-input")["payload"])
    jpeg = build_jpeg(3, 5)
    assert jpeg.startswith(b"\xff\xd8\xff\xe0") and jpeg.endswith(b"\xff\xd9")
    assert b"\xff\xc0\x00\x11\x08\x00\xb4\x01\x40\x03" in jpeg     # SOF0: 180 × 320, 3 comps


def test_relay_stats_and_health_shapes():
    registry = TunnelRegistry()
    model = RelayModel(name="relay", urls=["wss://m/ws/node"], manager={"node_id": "r"},
                       registry=registry)
    public = model.startup["public_quic_addr"]
    tid = "550e8400-e29b-41d4-a716-446655440000"
    model.execute(example("relay-command-authorize-tunnel")["payload"]["action"])
    registry.bind(tid, "ingress", "9c2d5e7f-3a1b-4c6d-8e9f-0a1b2c3d4e5f", "203.0.113.9:40122",
                  public)
    registry.bind(tid, "egress", "0b7e4a52-1f3c-4d2e-9a8b-7c6d5e4f3a21", "198.51.100.7:53211",
                  public)
    tel = RelayTelemetry(model, random.Random(3))
    tel.advance(1.0)
    stats = tel.stats_payload()
    ref = example("relay-stats")["payload"]
    assert set(stats) == set(ref)
    assert_shape(stats["tunnels"][0], ref["tunnels"][0])
    assert {k: v for k, v in stats["tunnels"][0].items() if k != "stats"} == \
        {k: v for k, v in ref["tunnels"][0].items() if k != "stats"}
    assert stats["edges"] == ref["edges"]
    health = tel.health_payload()
    href = example("relay-health")["payload"]
    assert set(health) == set(href)
    assert health["public_udp_addr"] is None                             # quirk 24: null
    assert_shape(health, href)
    cfg = model.config_response()
    assert set(cfg) == set(example("relay-config-response")["payload"])


def test_appearx_shapes():
    events: list = []
    chassis = Chassis(index=1, rng=random.Random(4), emit=events.append, discovery_secs=0.0)
    snap = appearx_stats(chassis)
    ref = example("appearx-stats")["payload"]
    assert len(snap) == 56 and set(snap) == set(ref)
    assert_shape(snap["slots"][0], ref["slots"][0])
    chassis.alarms["a-19"] = {"alarmId": "a-19", "alarmName": "sfpRxLow",
                              "alarmDescription": "SFP RX level low", "severity": "MINOR",
                              "configObjectLabel": "D3", "configObjectSlot": 1}
    health = appearx_health(chassis, phase="poll")
    href = example("appearx-health")["payload"]
    assert_shape(health, href)
    assert health["status"] == "degraded"
    disc = appearx_health(chassis, phase="discovery")
    assert_shape(disc, example("appearx-health-discovery")["payload"])
    assert appearx_health(chassis, phase="heartbeat").keys() == \
        example("appearx-health-heartbeat")["payload"].keys()
    chassis.reemit_alarms()
    assert events[-1] == example("appearx-event-alarm-minor")["payload"]
    # unsupported_on_card: the X5 card only exposes cardStatus
    with pytest.raises(Exception) as exc:
        chassis.execute(example("appearx-command-set-coder-services")["payload"]["action"])
    ref_ack = example("appearx-ack-unsupported-on-card")["payload"]
    assert (exc.value.message, exc.value.code) == (ref_ack["error"], ref_ack["error_code"])
    assert chassis.execute({"type": "get_alarms", "slot": "A"})["data"]          # quirk 42
