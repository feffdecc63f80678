"""Believable, moving telemetry for simulated edges (node-protocol §4.2, §4.3, §4.5); relay
and appear_x telemetry are in :mod:`.telemetry_relay`.

Every number wanders around a base with a bounded random walk (bitrates 4–25 Mb/s per flow,
CPU, RAM, SRT RTT), counters only grow, loss happens now and then, inputs drop and come back
(with events).  The payload shapes follow the examples in the spec key by key; static parts
(capability lists, resource budget) are module-level constants shared by every node, so a
5000-node fleet holds them once.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Callable

from .jpeg import FRAMES, VARIANTS, thumbnail_b64
from .wire import event

if TYPE_CHECKING:  # pragma: no cover
    from .edge_model import EdgeModel

from .wire import APPEARX_VERSION, EDGE_VERSION, RELAY_VERSION

__all__ = ["APPEARX_VERSION", "EDGE_VERSION", "RELAY_VERSION", "EDGE_CAPABILITIES",
           "EdgeTelemetry", "SystemLoad", "Wander"]
TS_PACKET = 1316           # 7 × 188-byte TS packets per datagram

EDGE_CAPABILITIES = (
    "st2110-30", "st2110-31", "st2110-40", "st2110-20", "st2110-23", "ptp", "is-04", "is-05",
    "is-08", "bcp-004", "redundancy-2022-7", "audio-encode", "optional-input", "resources",
    "tr101290_full", "hitless_2022_7", "pid_bus_switch_slot", "node_bus", "pes_splice",
    "upgrade", "master_clock", "av-skew", "network-info", "egress_dejitter", "egress_pacing",
    "epoch_lock", "ingress_dejitter", "node_tuning", "media_player_tuning", "interface-binding",
    "bonding", "native-udp-tunnel", "tunnel-nic-pin", "bond-leg-test", "bond-leg-capacity",
    "bond-probe-responder", "media-player-control-v1", "media-player-audio-only-v1", "replay",
    "replay-v2", "replay-filmstrip", "replay_export_mp4", "fdk-aac", "media-codecs", "webrtc",
    "tls", "clock-sync", "bond-broker")
_HW_KEYS = ("h264_nvenc", "hevc_nvenc", "h264_qsv", "hevc_qsv", "h264_videotoolbox",
            "hevc_videotoolbox", "h264_amf", "hevc_amf", "h264_vaapi", "hevc_vaapi",
            "h264_rkmpp", "hevc_rkmpp")
_HW_NONE = {k: False for k in _HW_KEYS}
_CPUS = (("Intel(R) Core(TM) i5-8500T", 6, 6, "avx2", 600, 6, 2, 60),
         ("Intel(R) Xeon(R) E-2278G", 8, 16, "avx2", 1600, 16, 5, 160),
         ("AMD EPYC 7302P 16-Core Processor", 16, 32, "avx2", 3200, 32, 10, 320),
         ("Intel(R) Xeon(R) Silver 4314", 16, 32, "avx512", 3200, 32, 10, 320))
_SCHEDULING = {"mlockall": "disabled", "sched_fifo_granted": False, "sched_fifo_failed": False,
               "rlimit_rtprio_max": 0}
_PTP_STATE = {"lock_state": "unavailable", "domain": 127, "grandmaster_id": None,
              "offset_ns": None, "mean_path_delay_ns": None, "steps_removed": None,
              "last_update_unix_ms": None}
_HW_USAGE = {"nvenc_in_use": 0, "qsv_in_use": 0, "videotoolbox_in_use": 0, "amf_in_use": 0}
_INPUT_TOPOLOGY = ("mode", "local_addr", "remote_addr", "listen_addr", "bind_addr", "rtsp_url",
                   "whep_url")
_OUTPUT_TOPOLOGY = ("mode", "remote_addr", "dest_addr", "dest_url", "ingest_url", "whip_url",
                    "local_addr")
_EVENT_CATEGORY = {"srt": "srt", "rtp": "rtp", "udp": "udp", "rist": "rist", "rtmp": "rtmp",
                   "rtsp": "rtsp", "webrtc": "webrtc", "whep": "webrtc"}
_LOSSLESS_INPUTS = ("test_pattern", "media_player", "replay", "mosaic")


class Wander:
    """A bounded random walk that is pulled back towards its base."""
    __slots__ = ("value", "base", "lo", "hi", "step")

    def __init__(self, base: float, lo: float, hi: float, step: float):
        self.value = base
        self.base = base
        self.lo = lo
        self.hi = hi
        self.step = step

    def next(self, rng: random.Random) -> float:
        v = self.value + rng.gauss(0.0, self.step) + (self.base - self.value) * 0.08
        self.value = min(self.hi, max(self.lo, v))
        return self.value


class SystemLoad:
    """cpu/ram of the simulated host (``system_resources``)."""
    __slots__ = ("cpu", "ram_total", "ram_used")

    def __init__(self, rng: random.Random):
        self.cpu = Wander(rng.uniform(4, 25), 1, 95, 1.5)
        self.ram_total = rng.choice((7998, 15928, 31944, 64216))
        self.ram_used = Wander(self.ram_total * rng.uniform(0.2, 0.5), self.ram_total * 0.1,
                               self.ram_total * 0.9, self.ram_total * 0.004)

    def advance(self, rng: random.Random, extra_cpu: float = 0.0) -> None:
        self.cpu.base = min(90.0, self.cpu.base * 0.98 + (self.cpu.base + extra_cpu) * 0.02)
        self.cpu.next(rng)
        self.ram_used.next(rng)

    def payload(self) -> dict:
        used = int(self.ram_used.value)
        return {"cpu_percent": round(self.cpu.value, 1),
                "ram_percent": round(100.0 * used / self.ram_total, 2),
                "ram_used_mb": used, "ram_total_mb": self.ram_total}


class FlowCounters:
    """Counters of one run of one flow (reset when the run's generation changes)."""
    __slots__ = ("generation", "bitrate", "in_pkts", "in_bytes", "lost", "recovered",
                 "discont", "switches", "outputs", "state", "state_until", "rtt", "retrans",
                 "input_id", "variant", "thumb_gen", "next_thumb", "reasons")

    def __init__(self, generation: int, rng: random.Random, variant: int):
        self.generation = generation
        self.bitrate = Wander(rng.uniform(4e6, 25e6), 3e6, 30e6, 2.5e5)
        self.in_pkts = self.in_bytes = self.lost = self.recovered = 0
        self.discont = self.switches = 0
        self.outputs: dict[str, list] = {}
        self.state = "connecting"
        self.state_until = time.monotonic() + rng.uniform(0.5, 2.5)
        self.rtt = Wander(rng.uniform(6, 60), 1, 250, 1.5)
        self.retrans = 0
        self.input_id: str | None = None
        self.variant = variant
        self.thumb_gen = 0
        self.next_thumb = 0.0
        self.reasons: list | None = None


def _srt_stats(rtt: float, bitrate: float, pkts: int, nbytes: int, lost: int, retrans: int,
               sending: bool) -> dict:
    mbps = round(bitrate / 1e6, 3)
    return {"state": "connected", "rtt_ms": round(rtt, 3),
            "send_rate_mbps": mbps if sending else 0.0,
            "recv_rate_mbps": 0.0 if sending else mbps,
            "bandwidth_mbps": round(max(50.0, mbps * 6), 3), "max_bw_mbps": 1000.0,
            "pkt_sent_total": pkts if sending else 0, "pkt_recv_total": 0 if sending else pkts,
            "pkt_loss_total": lost, "pkt_retransmit_total": retrans,
            "pkt_recv_drop_total": 0, "byte_sent_total": nbytes if sending else 0,
            "byte_recv_total": 0 if sending else nbytes}


class EdgeTelemetry:
    def __init__(self, model: "EdgeModel", rng: random.Random, *, index: int = 0,
                 emit: Callable[[dict], None] | None = None):
        self.model = model
        self.rng = rng
        self.emit = emit or model.emit
        self.boot = time.monotonic() - rng.uniform(600, 5 * 86400)
        self.load = SystemLoad(rng)
        self.flows: dict[str, FlowCounters] = {}
        self.tunnels: dict[str, list] = {}
        self.beats = 0
        cpu = _CPUS[index % len(_CPUS)]
        self.budget = {
            "hw_encoders": _HW_NONE, "hw_decoders": _HW_NONE,
            "cpu": {"brand": cpu[0], "physical_cores": cpu[1], "logical_cores": cpu[2],
                    "avx_class": cpu[3]},
            "sw_capacity": {"x264_720p30_streams": cpu[5], "x265_720p30_streams": cpu[6],
                            "aac_encode_streams": cpu[7]},
            "units_total": cpu[4], "units_used": 0, "hw_session_usage": _HW_USAGE,
            "live": None, "threads": {"codec_pool_count": 0}}
        self.ip = f"10.{20 + (index // 64770) % 200}.{(index // 254) % 255}.{index % 254 + 1}"
        self.mac = "52:54:00:%02x:%02x:%02x" % ((index >> 16) & 255, (index >> 8) & 255,
                                                 index & 255)

    def uptime(self) -> int:
        return int(time.monotonic() - self.boot)

    def restart_process(self) -> None:
        """A simulated process restart (after ``upgrade_binary``)."""
        self.boot = time.monotonic()
        self.beats = 0

    # ------------------------------------------------------------------ ticking
    def _counters(self, fid: str, run) -> FlowCounters:
        fc = self.flows.get(fid)
        if fc is None or fc.generation != run.generation:
            fc = FlowCounters(run.generation, self.rng, sum(map(ord, fid)) % VARIANTS)
            if fid in self.flows:               # a reset keeps the input connected
                old = self.flows[fid]
                fc.bitrate, fc.state, fc.rtt = old.bitrate, old.state, old.rtt
                fc.thumb_gen, fc.input_id = old.thumb_gen, old.input_id
            self.flows[fid] = fc
        return fc

    def advance(self, dt: float = 1.0) -> None:
        """Move every number by ``dt`` seconds; emits input connected/lost events."""
        model, rng = self.model, self.rng
        now = time.monotonic()
        for fid in [f for f in self.flows if f not in model.running]:
            del self.flows[fid]
        total_bps = 0.0
        for fid, run in model.running.items():
            fc = self._counters(fid, run)
            inp = model.find("inputs", run.active_input_id) if run.active_input_id else None
            itype = (inp or {}).get("type", "")
            if fc.input_id != run.active_input_id:
                if fc.input_id is not None:
                    fc.switches += 1
                    fc.discont += 1
                fc.input_id = run.active_input_id
            self._input_state(fid, fc, inp, itype, now)
            if fc.state != "receiving":
                continue
            bps = fc.bitrate.next(rng)
            total_bps += bps
            nbytes = int(bps * dt / 8)
            pkts = max(1, nbytes // TS_PACKET)
            fc.in_bytes += pkts * TS_PACKET
            fc.in_pkts += pkts
            if itype not in _LOSSLESS_INPUTS and rng.random() < 0.03:
                burst = rng.randint(1, 40)
                fc.lost += burst
                fc.retrans += burst * 2
                if inp and inp.get("packet_filter"):
                    fc.recovered += burst
            if itype == "srt":
                fc.rtt.next(rng)
            flow = model.find("flows", fid) or {}
            for oid in flow.get("output_ids") or []:
                counters = fc.outputs.setdefault(oid, [0, 0, 0, 0.0])
                dropped = rng.randint(1, 5) if rng.random() < 0.01 else 0
                counters[0] += pkts - dropped
                counters[1] += (pkts - dropped) * TS_PACKET
                counters[2] += dropped
                counters[3] = bps * rng.uniform(0.995, 1.0)
            self._thumbnail(fc, flow, now)
        for tid in list(self.tunnels):
            if tid not in model.tunnel_started:
                del self.tunnels[tid]
        for tid in model.tunnel_started:
            t = self.tunnels.setdefault(tid, [0, 0, 0, 0, Wander(rng.uniform(1e6, 8e6), 2e5,
                                                                  12e6, 1e5)])
            bps = t[4].next(rng)
            p = int(bps * dt / 8) // TS_PACKET
            t[0] += p
            t[1] += p * TS_PACKET
        self.load.advance(rng, extra_cpu=3.0 * len(model.running) + total_bps / 2e7)
        self.budget["units_used"] = 10 * len(model.running)

    def _input_state(self, fid: str, fc: FlowCounters, inp: dict | None, itype: str,
                     now: float) -> None:
        if inp is None:
            fc.state = "idle"
            return
        category = _EVENT_CATEGORY.get(itype, "flow")
        label = itype.upper() if itype else "Input"
        iid = inp.get("id")
        if fc.state == "receiving":
            outage_prob = 0.0 if itype in _LOSSLESS_INPUTS else 1.0 / 1800
            if self.rng.random() < outage_prob:
                fc.state = "connect_failed" if inp.get("mode") == "caller" else "waiting"
                fc.state_until = now + self.rng.uniform(5, 20)
                fc.reasons = [{"code": "no_input", "severity": "Warning",
                               "detail": "No packets received for 3 s"}]
                self.emit(event("warning", category, f"{label} input lost: no packets for 3 s",
                                flow_id=fid, input_id=iid))
            return
        if now >= fc.state_until:
            was_outage = fc.reasons is not None
            fc.state = "receiving"
            fc.reasons = None
            peer = inp.get("remote_addr") or "198.51.100.%d:%d" % (
                self.rng.randint(2, 250), self.rng.randint(40000, 60000))
            text = (f"{label} input reconnected" if was_outage
                    else f"{label} input connected ({peer})")
            self.emit(event("info", category, text, flow_id=fid, input_id=iid))

    def _thumbnail(self, fc: FlowCounters, flow: dict, now: float) -> None:
        if not flow.get("thumbnail", True) or now < fc.next_thumb:
            return
        fc.thumb_gen += 1
        fc.next_thumb = now + float(flow.get("thumbnail_interval_secs") or 5)

    # ------------------------------------------------------------------ payloads
    def thumbnails(self) -> list[tuple[tuple, int, dict]]:
        """[(key, generation, payload-builder-args)] for every current thumbnail."""
        out = []
        for fid, fc in self.flows.items():
            if fc.thumb_gen:
                out.append(((fid, None), fc.thumb_gen, fc))
                if fc.input_id and len((self.model.find("flows", fid) or {})
                                       .get("input_ids") or []) > 1:
                    out.append(((fid, fc.input_id), fc.thumb_gen, fc))
        return out

    @staticmethod
    def thumbnail_payload(key: tuple, fc: FlowCounters) -> dict:
        payload = {"flow_id": key[0], "width": 320, "height": 180,
                   "data": thumbnail_b64(fc.variant + (1 if key[1] else 0),
                                         fc.thumb_gen % FRAMES)}
        if key[1]:
            payload["input_id"] = key[1]
        return payload

    def _input_stats(self, inp: dict, fc: FlowCounters) -> dict:
        receiving = fc.state == "receiving"
        bps = int(fc.bitrate.value) if receiving else 0
        data = {"input_type": inp.get("type", ""), "state": fc.state,
                "packets_received": fc.in_pkts, "bytes_received": fc.in_bytes,
                "bitrate_bps": bps, "packets_lost": fc.lost, "packets_filtered": 0,
                "packets_recovered_fec": fc.recovered, "redundancy_switches": fc.switches,
                "source_discontinuities": fc.discont}
        for key in _INPUT_TOPOLOGY:
            if isinstance(inp.get(key), str):
                data[key] = inp[key]
        if inp.get("type") == "srt" and receiving:
            data["srt_stats"] = _srt_stats(fc.rtt.value, bps, fc.in_pkts, fc.in_bytes, fc.lost,
                                           fc.retrans, sending=False)
        return data

    def _flow_stats(self, flow: dict) -> dict:
        fid = flow["id"]
        run = self.model.running.get(fid)
        fc = self.flows.get(fid) if run else None
        if run is None or fc is None:
            return {"flow_id": fid, "flow_name": flow.get("name", ""), "state": "Idle",
                    "input": {"input_type": "", "state": "", "packets_received": 0,
                              "bytes_received": 0, "bitrate_bps": 0, "packets_lost": 0,
                              "packets_filtered": 0, "packets_recovered_fec": 0,
                              "redundancy_switches": 0, "source_discontinuities": 0},
                    "outputs": [], "uptime_secs": 0, "health": "Healthy"}
        inp = self.model.find("inputs", run.active_input_id) if run.active_input_id else None
        outputs = []
        for oid in flow.get("output_ids") or []:
            out = self.model.find("outputs", oid)
            if out is None or not out.get("active", True):
                continue
            c = fc.outputs.get(oid, [0, 0, 0, 0.0])
            sending = fc.state == "receiving"
            o = {"output_id": oid, "output_name": out.get("name", ""),
                 "output_type": out.get("type", ""), "state": "active" if sending else "connecting",
                 "packets_sent": c[0], "bytes_sent": c[1],
                 "bitrate_bps": int(c[3]) if sending else 0, "packets_dropped": c[2],
                 "fec_packets_sent": 0}
            for key in _OUTPUT_TOPOLOGY:
                if isinstance(out.get(key), str):
                    o[key] = out[key]
            if isinstance(out.get("program_number"), int):
                o["program_number"] = out["program_number"]
            if out.get("type") == "srt" and sending:
                o["srt_stats"] = _srt_stats(fc.rtt.value, c[3], c[0], c[1], 0, fc.retrans // 3,
                                            sending=True)
            outputs.append(o)
        entry = {"flow_id": fid, "flow_name": flow.get("name", ""), "state": "Running",
                 "input": self._input_stats(inp, fc) if inp else {
                     "input_type": "", "state": "idle", "packets_received": 0,
                     "bytes_received": 0, "bitrate_bps": 0, "packets_lost": 0,
                     "packets_filtered": 0, "packets_recovered_fec": 0,
                     "redundancy_switches": 0, "source_discontinuities": 0},
                 "outputs": outputs, "uptime_secs": int(time.monotonic() - run.started),
                 "health": "Healthy"}
        if run.active_input_id:
            entry["active_input_id"] = run.active_input_id
        if fc.reasons:
            entry["health"] = "Warning"
            entry["health_reasons"] = fc.reasons
        limit = flow.get("bandwidth_limit")
        if isinstance(limit, dict) and limit.get("max_bitrate_mbps"):
            entry["bandwidth_limit_mbps"] = float(limit["max_bitrate_mbps"])
            if fc.bitrate.value > limit["max_bitrate_mbps"] * 1e6:
                entry["bandwidth_exceeded"] = True
                if limit.get("action") == "block":
                    entry["bandwidth_blocked"] = True
        return entry

    def _tunnel_status(self, tunnel: dict, registry) -> dict:
        tid = tunnel["id"]
        started = self.model.tunnel_started.get(tid, time.monotonic())
        counters = self.tunnels.get(tid, [0, 0, 0, 0, None])
        if time.monotonic() - started < 1.0:
            state = "connecting"
        elif registry is not None and tunnel.get("mode") == "relay" \
                and not registry.both_sides(tid):
            state = "waiting"
        else:
            state = "ready"
        ready = state == "ready"
        bps = int(counters[4].value) if ready and counters[4] else 0
        egress = tunnel.get("direction") == "egress"
        status = {"id": tid, "name": tunnel.get("name", ""), "protocol": tunnel.get("protocol"),
                  "mode": tunnel.get("mode"), "direction": tunnel.get("direction"),
                  "local_addr": tunnel.get("local_addr", ""), "state": state,
                  "stats": {"packets_sent": counters[0] if egress else 0,
                            "packets_received": 0 if egress else counters[0],
                            "bytes_sent": counters[1] if egress else 0,
                            "bytes_received": 0 if egress else counters[1],
                            "bitrate_in_bps": 0 if egress else bps,
                            "bitrate_out_bps": bps if egress else 0,
                            "send_errors": 0, "decrypt_errors": 0,
                            "connections_total": 1 if ready else 0,
                            "connections_active": 1 if ready else 0}}
        relays = tunnel.get("relay_addrs") or []
        if relays:
            status["relay_addrs"] = list(relays)
            status["active_relay_idx"] = 0
            status["active_relay_addr"] = relays[0]
        return status

    def stats_payload(self, *, timer_path: bool = False, registry=None) -> dict:
        model = self.model
        running = len(model.running)
        flows = [] if timer_path else [self._flow_stats(f) for f in model.items("flows")]
        assigned = {i for f in model.items("flows") for i in f.get("input_ids") or []}
        standby = []
        for inp in model.items("inputs"):
            if inp["id"] in assigned:
                continue
            binds = [b for b in _listener_addrs(inp)]
            if binds:
                standby.append({"input_id": inp["id"], "input_name": inp.get("name", ""),
                                "input_type": inp.get("type", ""), "state": "listening",
                                "connections": 0, "local_addr": binds[0]})
        return {"flows": flows,
                "tunnels": [self._tunnel_status(t, registry) for t in model.items("tunnels")],
                "uptime_secs": self.uptime(), "active_flows": running,
                "total_flows": running if timer_path else len(flows),
                "system_resources": self.load.payload(), "standby_inputs": standby}

    def health_payload(self) -> dict:
        model = self.model
        running = len(model.running)
        self.beats += 1
        iface = {"name": "eth0", "mac": self.mac, "ipv4": [self.ip], "ipv6": [], "mtu": 1500,
                 "link_speed_mbps": 1000, "is_up": True, "is_loopback": False}
        if self.beats > 1:       # quirk 6: rx_bps/tx_bps absent on the first beat
            rx = sum(int(fc.bitrate.value) for fc in self.flows.values()
                     if fc.state == "receiving")
            iface["rx_bps"] = rx + self.rng.randint(20_000, 90_000)
            iface["tx_bps"] = int(rx * 0.998) + self.rng.randint(10_000, 60_000)
        server = model.config.get("server") or {}
        monitor = model.config.get("monitor")
        return {"status": "ok", "version": model_version(model), "uptime_secs": self.uptime(),
                "active_flows": running, "total_flows": running,
                "api_addr": f"{self.ip}:{server.get('listen_port', 8080)}",
                "monitor_addr": (f"{self.ip}:{monitor['listen_port']}"
                                 if isinstance(monitor, dict) and monitor.get("listen_port")
                                 else None),
                "capabilities": EDGE_CAPABILITIES, "system_resources": self.load.payload(),
                "resource_budget": self.budget, "scheduling_status": _SCHEDULING,
                "ptp_state": _PTP_STATE, "ptp_mode": model.extras.ptp["mode"],
                "network_interfaces": [iface],
                "clock_sync": {"state": "synchronized", "unsync": False,
                               "max_error_us": self.rng.randint(400, 2000),
                               "est_error_us": self.rng.randint(10, 120)}}


def model_version(model) -> str:
    return model.software_version


def _listener_addrs(inp: dict) -> list[str]:
    t = inp.get("type")
    if t == "srt" and inp.get("mode") in ("listener", "rendezvous"):
        return [inp.get("local_addr", "")]
    if t == "rtmp":
        return [inp.get("listen_addr", "")]
    if t in ("rtp", "udp", "rist") and inp.get("bind_addr"):
        return [inp["bind_addr"]]
    return []
