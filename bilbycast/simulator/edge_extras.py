"""Edge diagnostics, media library and replay commands (node-protocol §5.5, §5.8).

These commands do not change the flow configuration; they return ``data``.  The media
library keeps only names and sizes (never the bytes), so uploads cost no memory.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from .edge_validate import arg as _arg
from .wire import CommandError

if TYPE_CHECKING:  # pragma: no cover
    from .edge_model import EdgeModel

GIB = 1024 ** 3
MAX_FILE = 4 * GIB
MAX_LIBRARY = 16 * GIB
UPLOAD_ABANDON_SECS = 3600
_MEDIA_NAME = re.compile(r"^[A-Za-z0-9._\- ]{1,255}$")
_USE_REST = {
    "get_nmos_state": "GET /api/v1/nmos/node on the edge's REST API",
    "get_ptp_state": "GET /api/v1/ptp on the edge's REST API",
    "get_sdp_document": "GET /api/v1/flows/{flow_id}/sdp on the edge's REST API",
    "set_audio_channel_map": "PUT /x-nmos/channelmapping on the edge's IS-08 API",
}
_PTP_ALIASES = {"gm": "grandmaster", "master": "grandmaster", "slave": "slave-only",
                "disabled": "off", "none": "off"}


def valid_media_name(name: Any) -> bool:
    return (isinstance(name, str) and bool(_MEDIA_NAME.match(name))
            and not name.startswith(".") and ".." not in name)


class EdgeExtras:
    def __init__(self, model: "EdgeModel"):
        self.model = model
        self.media: dict[str, dict] = {}
        self.uploads: dict[str, dict] = {}
        self.ptp = {"mode": "auto", "iface": None, "domain": 127, "priority1": 128,
                    "scan_timeout": 5, "offset_warn_ns": 1000, "path_delay_warn_ns": 100000}
        self.recordings: dict[str, dict] = {}     # flow_id → recording
        self.clips: dict[str, dict] = {}
        self.responders: dict[int, float] = {}

    def handles(self, kind: str) -> bool:
        return kind in _EXTRA or kind in _USE_REST

    async def execute(self, kind: str, action: dict) -> Any:
        if kind in _USE_REST:
            return {"status": "use_rest_endpoint", "hint": _USE_REST[kind]}
        result = _EXTRA[kind](self, action)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    # ------------------------------------------------------------------ media library
    def upload_chunk(self, name: Any, chunk_index: Any, total_chunks: Any, total_bytes: Any,
                     nbytes: int, *, binary: bool) -> dict:
        """Shared by binary frames and ``upload_media_chunk``; returns the progress data."""
        prefix = "binary upload failed: " if binary else "upload failed: "
        if not valid_media_name(name):
            raise CommandError(f"{prefix}invalid media file name '{name}'")
        for label, value in (("chunk_index", chunk_index), ("total_chunks", total_chunks),
                             ("total_bytes", total_bytes)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise CommandError(f"{prefix}{label} must be a non-negative integer")
        if total_chunks < 1 or chunk_index >= total_chunks:
            raise CommandError(f"{prefix}chunk_index {chunk_index} out of range "
                               f"(total_chunks {total_chunks})")
        now = time.monotonic()
        for key in [k for k, u in self.uploads.items() if now - u["touched"] > UPLOAD_ABANDON_SECS]:
            del self.uploads[key]
        if chunk_index == 0:
            if total_bytes > MAX_FILE:
                raise CommandError(f"{prefix}file exceeds the 4 GiB limit")
            used = sum(f["size_bytes"] for n, f in self.media.items() if n != name)
            if used + total_bytes > MAX_LIBRARY:
                raise CommandError(f"{prefix}media library quota of 16 GiB exceeded")
            upload = {"total_chunks": total_chunks, "total_bytes": total_bytes, "next": 0,
                      "bytes": 0, "touched": now}
            self.uploads[name] = upload
        else:
            upload = self.uploads.get(name)
            if upload is None:
                raise CommandError(f"{prefix}no upload in progress for '{name}' "
                                   f"(chunk {chunk_index} before chunk 0)")
            if upload["next"] != chunk_index:
                raise CommandError(f"{prefix}chunk {chunk_index} out of order "
                                   f"(expected {upload['next']})")
            if upload["total_chunks"] != total_chunks or upload["total_bytes"] != total_bytes:
                raise CommandError(f"{prefix}total_chunks/total_bytes changed mid-upload")
        if upload["bytes"] + nbytes > total_bytes:
            del self.uploads[name]
            raise CommandError(f"{prefix}received more than total_bytes ({total_bytes})")
        upload["bytes"] += nbytes
        upload["next"] = chunk_index + 1
        upload["touched"] = now
        if chunk_index + 1 < total_chunks:
            return {"status": "in_progress", "chunks_received": chunk_index + 1,
                    "chunks_total": total_chunks, "bytes_received": upload["bytes"]}
        del self.uploads[name]
        if upload["bytes"] != total_bytes:
            raise CommandError(f"{prefix}size mismatch: got {upload['bytes']} bytes, "
                               f"expected {total_bytes}")
        self.media[name] = {"name": name, "size_bytes": total_bytes,
                            "modified_unix": int(time.time())}
        return {"status": "complete", "bytes_received": total_bytes}

    def upload_media_chunk(self, action: dict) -> dict:
        data_b64 = _arg(action, "data_b64")
        try:
            raw = base64.b64decode(data_b64, validate=True)
        except (binascii.Error, ValueError):
            raise CommandError("upload failed: data_b64 is not valid base64") from None
        return self.upload_chunk(action.get("name"), action.get("chunk_index"),
                                 action.get("total_chunks"), action.get("total_bytes"),
                                 len(raw), binary=False)

    def _media(self, action: dict) -> dict:
        name = _arg(action, "name")
        if name not in self.media:
            raise CommandError(f"Media file '{name}' not found")
        return self.media[name]

    def list_media(self, action: dict) -> dict:
        return {"files": sorted(self.media.values(), key=lambda f: f["name"])}

    def scan_media(self, action: dict) -> dict:
        return {"name": self._media(action)["name"], "status": "scanned"}

    def inspect_media(self, action: dict) -> dict:
        media = self._media(action)
        return {"manifest": {"name": media["name"], "size_bytes": media["size_bytes"],
                             "container": "mpegts", "duration_ms": 10000,
                             "programs": [{"program_number": 1, "video": "h264",
                                           "audio": ["aac"]}]}}

    reprobe_media = inspect_media

    def delete_media(self, action: dict) -> dict:
        media = self._media(action)
        del self.media[media["name"]]
        return {"deleted": media["name"]}

    def plan_media_playlist(self, action: dict) -> dict:
        sources = _arg(action, "sources", list)
        if not 1 <= len(sources) <= 256:
            raise CommandError("sources must hold 1-256 entries", "invalid_value")
        for src in sources:
            if not isinstance(src, dict) or src.get("name") not in self.media:
                raise CommandError(f"Media file '{(src or {}).get('name')}' not found")
        loop = action.get("loop_playback", True)
        return {"sources": sources, "loop_playback": bool(loop), "compatible": True,
                "total_duration_ms": 10000 * len(sources), "policy": action.get("policy")}

    def media_player_next(self, action: dict) -> dict:
        fid = _arg(action, "flow_id")
        iid = _arg(action, "input_id")
        inp = self.model.find("inputs", iid)
        if fid not in self.model.running or not inp or inp.get("type") != "media_player":
            raise CommandError(f"Media player control is not available on flow '{fid}' "
                               f"input '{iid}'", "media_player_control_unavailable")
        gen = action.get("expected_generation")
        return {"flow_id": fid, "input_id": iid,
                "generation": (gen + 1) if isinstance(gen, int) else 1,
                "request_id": action.get("request_id")}

    # ------------------------------------------------------------------ diagnostics
    def _test_result(self, cfg: dict, ok_state: str) -> dict:
        rng = self.model.rng
        mode = cfg.get("mode")
        data: dict = {"success": True, "state": ok_state, "duration_ms": rng.randint(180, 900)}
        if cfg.get("type") == "srt" and mode == "caller":
            data.update(state="connected", message="SRT handshake completed",
                        rtt_ms=round(rng.uniform(8, 60), 1))
        elif mode == "listener" or cfg.get("bind_addr") or cfg.get("listen_addr"):
            data.update(state="listening", message="Bound; no peer within the test window",
                        connections=0, packets_received=0,
                        local_addr=cfg.get("local_addr") or cfg.get("bind_addr")
                        or cfg.get("listen_addr"))
        else:
            data["message"] = "Reachable"
        return data

    async def test_input(self, action: dict) -> dict:
        iid = _arg(action, "input_id")
        inp = self.model.find("inputs", iid)
        if inp is None:
            raise CommandError(f"Input '{iid}' not found")
        for flow in self.model.flows_using_input(iid):
            if flow["id"] in self.model.running:
                raise CommandError(f"Input '{iid}' is in use by running flow '{flow['id']}'")
        await asyncio.sleep(0.2)
        return self._test_result(inp, "ok")

    async def test_output(self, action: dict) -> dict:
        oid = _arg(action, "output_id")
        out = self.model.find("outputs", oid)
        if out is None:
            raise CommandError(f"Output '{oid}' not found", "unknown_output")
        await asyncio.sleep(0.2)
        return self._test_result(out, "ok")

    def get_audio_channel_map(self, action: dict) -> dict:
        return {}

    def get_ptp_mode(self, action: dict) -> dict:
        return dict(self.ptp, config_path="/etc/bilbycast/ptp.toml",
                    available_ifaces=["eth0"])

    def set_ptp_mode(self, action: dict) -> dict:
        mode = _arg(action, "mode")
        mode = _PTP_ALIASES.get(mode, mode)
        if mode not in ("auto", "grandmaster", "slave-only", "off"):
            raise CommandError(f"Invalid PTP mode '{action['mode']}'", "invalid_value")
        domain = action.get("domain")
        if domain is not None and (not isinstance(domain, int) or not 0 <= domain <= 127):
            raise CommandError("domain must be 0-127", "invalid_value")
        self.ptp["mode"] = mode
        for key in ("iface", "domain", "priority1", "scan_timeout", "offset_warn_ns",
                    "path_delay_warn_ns"):
            if key in action:
                self.ptp[key] = action[key]
        return dict(self.ptp)

    def set_master_clock_lipsync(self, action: dict) -> dict:
        fid = _arg(action, "flow_id")
        flow = self.model.flow(fid)
        offset = max(-18000, min(18000, _arg(action, "lipsync_offset_90k", int)))
        flow.setdefault("master_clock", {"kind": "source_pcr_pll"})["lipsync_offset_90k"] = offset
        return {"lipsync_offset_90k": offset}

    def set_epoch_anchor(self, action: dict) -> dict:
        oid = _arg(action, "output_id")
        if self.model.find("outputs", oid) is None:
            raise CommandError(f"Output '{oid}' not found", "unknown_output")
        if action.get("clear") is True:
            return {"output_id": oid, "cleared": True}
        _arg(action, "pcr_27mhz", int)
        if _arg(action, "unix_ns", int) <= 0:
            raise CommandError("unix_ns must be > 0", "invalid_value")
        generation = _arg(action, "generation", int)
        if generation < 1:
            raise CommandError("generation must be >= 1", "invalid_value")
        return {"output_id": oid, "generation": generation}

    async def test_cellular_uplink(self, action: dict) -> dict:
        _arg(action, "address")
        await asyncio.sleep(0.3)
        return {"ok": False, "error": "no cellular router answered at "
                                      f"{action['address']}"}

    async def test_starlink_uplink(self, action: dict) -> dict:
        await asyncio.sleep(0.3)
        return {"ok": False, "state": "unreachable",
                "error": f"no dish at {action.get('address') or '192.168.100.1:9200'}"}

    async def wake_uplink(self, action: dict) -> dict:
        iface = _arg(action, "interface")
        await asyncio.sleep(0.2)
        return {"interface": iface, "woken": False, "reason": "interface is not a cellular modem"}

    async def test_bond_leg(self, action: dict) -> dict:
        _arg(action, "transport", dict)
        duration = action.get("duration_secs", 8)
        if not isinstance(duration, int) or not 1 <= duration <= 60:
            raise CommandError("duration_secs must be 1-60", "invalid_value")
        mode = action.get("mode", "usability")
        await asyncio.sleep(duration)
        rng = self.model.rng
        return {"mode": mode, "duration_secs": duration, "usable": True,
                "rtt_ms": round(rng.uniform(10, 80), 1),
                "loss_percent": round(rng.uniform(0, 0.5), 2),
                "throughput_bps": rng.randint(5, 80) * 1_000_000}

    def start_bond_probe_responder(self, action: dict) -> dict:
        duration = action.get("duration_secs", 30)
        if not isinstance(duration, int) or not 1 <= duration <= 120:
            raise CommandError("duration_secs must be 1-120", "invalid_value")
        bind = action.get("bind") or "0.0.0.0:0"
        port = self.model.rng.randint(40000, 60000)
        self.responders[port] = time.monotonic() + duration
        return {"ok": True, "port": port, "bind": bind.rsplit(":", 1)[0] + f":{port}",
                "expires_in_secs": duration}

    def stop_bond_probe_responder(self, action: dict) -> dict:
        port = _arg(action, "port", int)
        return {"ok": True, "stopped": self.responders.pop(port, None) is not None}

    # ------------------------------------------------------------------ replay
    def _recording(self, action: dict) -> dict:
        fid = action.get("flow_id")
        rid = action.get("recording_id")
        for rec in self.recordings.values():
            if rec["flow_id"] == fid or rec["recording_id"] == rid:
                return rec
        raise CommandError("No recording for this flow", "replay_recording_not_active")

    def start_recording(self, action: dict) -> dict:
        fid = _arg(action, "flow_id")
        self.model.flow(fid)
        rec = self.recordings.get(fid)
        if rec is None:
            rec = {"recording_id": str(uuid.uuid4()), "flow_id": fid,
                   "started_unix_ms": int(time.time() * 1000), "active": True}
            self.recordings[fid] = rec
        rec["active"] = True
        return dict(rec)

    def stop_recording(self, action: dict) -> dict:
        rec = self._recording(action)
        rec["active"] = False
        return dict(rec)

    def recording_status(self, action: dict) -> dict:
        fid = _arg(action, "flow_id")
        rec = self.recordings.get(fid)
        return dict(rec) if rec else {"flow_id": fid, "active": False}

    def list_recordings(self, action: dict) -> list:
        return [dict(r) for r in self.recordings.values()]

    def delete_recording(self, action: dict) -> dict:
        rid = _arg(action, "recording_id")
        rec = self._recording({"recording_id": rid})
        del self.recordings[rec["flow_id"]]
        return {"deleted": rid}

    def _pts(self) -> int:
        return int(time.monotonic() * 90000) & ((1 << 33) - 1)

    def mark_in(self, action: dict) -> dict:
        rec = self._recording(action)
        if not rec["active"]:
            raise CommandError("Recording is not active", "replay_recording_not_active")
        rec["mark_in"] = action.get("pts_90khz") or self._pts()
        return {"recording_id": rec["recording_id"], "pts_90khz": rec["mark_in"]}

    def mark_out(self, action: dict) -> dict:
        rec = self._recording(action)
        start = rec.pop("mark_in", None)
        if start is None:
            raise CommandError("mark_out without mark_in", "replay_no_mark_in")
        clip = {"clip_id": str(uuid.uuid4()), "recording_id": rec["recording_id"],
                "flow_id": rec["flow_id"], "name": action.get("name") or "Clip",
                "description": action.get("description"), "in_pts_90khz": start,
                "out_pts_90khz": action.get("pts_90khz") or self._pts(),
                "created_by": action.get("created_by"), "tags": []}
        self.clips[clip["clip_id"]] = clip
        return dict(clip)

    def list_clips(self, action: dict) -> list:
        rid, fid = action.get("recording_id"), action.get("flow_id")
        return [dict(c) for c in self.clips.values()
                if (rid is None or c["recording_id"] == rid) and (fid is None or c["flow_id"] == fid)]

    def _clip(self, action: dict) -> dict:
        cid = _arg(action, "clip_id")
        if cid not in self.clips:
            raise CommandError(f"Clip '{cid}' not found", "replay_clip_not_found")
        return self.clips[cid]

    def get_clip(self, action: dict) -> dict:
        return dict(self._clip(action))

    def delete_clip(self, action: dict) -> dict:
        clip = self._clip(action)
        del self.clips[clip["clip_id"]]
        return {"deleted": clip["clip_id"]}

    def rename_clip(self, action: dict) -> dict:
        clip = self._clip(action)
        clip["name"] = _arg(action, "name")
        if "description" in action:
            clip["description"] = action["description"]
        return dict(clip)

    def update_clip(self, action: dict) -> dict:
        clip = self._clip(action)
        for key in ("name", "description", "tags", "in_pts_90khz", "out_pts_90khz"):
            if key in action:
                clip[key] = action[key]
        return dict(clip)

    def list_filmstrip(self, action: dict) -> dict:
        rec = self._recording(action)
        return {"recording_id": rec["recording_id"], "frames": []}

    def get_filmstrip_frame(self, action: dict) -> dict:
        rec = self._recording(action)
        raise CommandError(f"No filmstrip frame at that PTS in {rec['recording_id']}",
                           "replay_frame_not_found")

    def export_clip(self, action: dict) -> dict:
        clip = self._clip(action)
        return {"clip_id": clip["clip_id"], "format": action.get("format", "ts"),
                "byte_offset": action.get("byte_offset", 0), "data_b64": "", "eof": True}

    def export_recording(self, action: dict) -> dict:
        rec = self._recording(action)
        return {"recording_id": rec["recording_id"], "format": action.get("format", "ts"),
                "byte_offset": action.get("byte_offset", 0), "data_b64": "", "eof": True}

    def _playback_flow(self, action: dict) -> str:
        fid = _arg(action, "flow_id")
        flow = self.model.flow(fid)
        if not any((self.model.find("inputs", i) or {}).get("type") == "replay"
                   for i in flow.get("input_ids") or []):
            raise CommandError(f"Flow '{fid}' has no replay input", "replay_no_playback_input")
        return fid

    def cue_clip(self, action: dict) -> dict:
        fid = self._playback_flow(action)
        return {"flow_id": fid, "clip_id": self._clip(action)["clip_id"], "state": "cued"}

    def play_clip(self, action: dict) -> dict:
        fid = self._playback_flow(action)
        speed = action.get("speed", 1.0)
        if not isinstance(speed, (int, float)) or not 0 < speed <= 2:
            raise CommandError("speed must be > 0 and <= 2", "replay_invalid_speed")
        return {"flow_id": fid, "state": "playing", "speed": speed}

    def stop_playback(self, action: dict) -> dict:
        return {"flow_id": self._playback_flow(action), "state": "stopped"}

    def scrub_playback(self, action: dict) -> dict:
        fid = self._playback_flow(action)
        return {"flow_id": fid, "pts_90khz": _arg(action, "pts_90khz", int)}


_EXTRA = {name: getattr(EdgeExtras, name) for name in (
    "upload_media_chunk", "list_media", "scan_media", "inspect_media", "reprobe_media",
    "delete_media", "plan_media_playlist", "media_player_next", "test_input", "test_output",
    "get_audio_channel_map", "get_ptp_mode", "set_ptp_mode", "set_master_clock_lipsync",
    "set_epoch_anchor", "test_cellular_uplink", "test_starlink_uplink", "wake_uplink",
    "test_bond_leg", "start_bond_probe_responder", "stop_bond_probe_responder",
    "start_recording", "stop_recording", "recording_status", "list_recordings",
    "delete_recording", "mark_in", "mark_out", "list_clips", "get_clip", "delete_clip",
    "rename_clip", "update_clip", "list_filmstrip", "get_filmstrip_frame", "export_clip",
    "export_recording", "cue_clip", "play_clip", "stop_playback", "scrub_playback")}
