"""The edge's own validation of config objects (node-protocol §7.3–§7.9).

This is the NODE's view of validation, written from the protocol contract independently of
the manager's drivers (the simulator must be able to catch a manager that validates wrongly).

Two kinds of failure, like the real edge (§5.6):

* JSON-shape errors (missing required field, wrong JSON type, unknown ``type`` variant) come
  from the deserializer: ``Invalid flow config: missing field `name` `` and **no** error code.
* semantic failures: ``Invalid flow config: Flow name cannot be empty`` with
  ``error_code: "validation_error"``.

Parsers return a normalized copy with the edge's defaults filled in (serde serializes defaulted
fields, omits absent optional ones), keeping unknown keys (this simulated edge "knows" every
feature, so round-trips are lossless).
"""

from __future__ import annotations

import copy
import ipaddress
import re
import uuid
from typing import Any, Iterable

from .wire import CommandError

INPUT_TYPES = ("rtp", "udp", "srt", "rist", "rtmp", "rtsp", "webrtc", "whep", "st2110_30",
               "st2110_31", "st2110_40", "st2110_20", "st2110_23", "rtp_audio", "bonded",
               "test_pattern", "mosaic", "media_player", "replay", "mxl_video", "mxl_audio",
               "mxl_anc", "sdi")
OUTPUT_TYPES = ("rtp", "udp", "srt", "rist", "rtmp", "hls", "cmaf", "webrtc", "st2110_30",
                "st2110_31", "st2110_40", "st2110_20", "st2110_23", "rtp_audio", "bonded",
                "display", "sdi", "mxl_video", "mxl_audio", "mxl_anc")
SRT_MODES = ("caller", "listener", "rendezvous")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")

# defaults the edge fills in (and therefore returns from get_config)
_INPUT_DEFAULTS: dict[str, dict[str, Any]] = {
    "srt": {"latency_ms": 120, "peer_idle_timeout_secs": 30},
    "rtmp": {"app": "live", "max_publishers": 1},
    "rtsp": {"transport": "tcp", "timeout_secs": 10, "reconnect_delay_secs": 5},
    "webrtc": {"video_only": False},
    "whep": {"video_only": False},
    "st2110_30": {"sample_rate": 48000, "bit_depth": 24, "channels": 2, "packet_time_us": 1000,
                  "payload_type": 97},
    "st2110_31": {"sample_rate": 48000, "bit_depth": 24, "channels": 2, "packet_time_us": 1000,
                  "payload_type": 97},
    "test_pattern": {"width": 1280, "height": 720, "fps": 25, "video_bitrate_kbps": 2000,
                     "audio_enabled": True, "tone_hz": 1000, "tone_dbfs": -20},
}
_OUTPUT_DEFAULTS: dict[str, dict[str, Any]] = {
    "udp": {"dscp": 46},
    "rtp": {"dscp": 46},
    "srt": {"latency_ms": 120, "peer_idle_timeout_secs": 30, "webrtc_compatible": False},
    "rtmp": {"reconnect_delay_secs": 5},
    "hls": {"segment_duration_secs": 2.0, "max_segments": 5},
    "cmaf": {"low_latency": False, "chunk_duration_ms": 500, "segment_duration_secs": 2.0,
             "max_segments": 5, "manifests": ["hls", "dash"]},
    "webrtc": {"mode": "whip_client", "video_only": False},
}


# --------------------------------------------------------------------------- primitives
def shape_error(prefix: str, text: str) -> CommandError:
    """A deserializer error: no error_code (§5.6)."""
    return CommandError(prefix + text)


def invalid(prefix: str, text: str) -> CommandError:
    return CommandError(prefix + text, "validation_error")


_JSON_TYPES = {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
               list: "a sequence", dict: "a map"}


def _typecheck(obj: dict, key: str, kind: type, prefix: str) -> Any:
    value = obj.get(key)
    if value is None:
        return None
    ok = isinstance(value, kind)
    if kind is int and isinstance(value, bool):
        ok = False
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise shape_error(prefix, f"invalid type for `{key}`: expected {_JSON_TYPES[kind]}")
    return value


def require(obj: dict, key: str, prefix: str, kind: type = str) -> Any:
    if key not in obj or obj[key] is None:
        raise shape_error(prefix, f"missing field `{key}`")
    return _typecheck(obj, key, kind, prefix)


def check_len(value: str | None, lo: int, hi: int, label: str, prefix: str) -> None:
    if value is None:
        return
    if lo > 0 and len(value) == 0:
        raise invalid(prefix, f"{label} cannot be empty")
    if len(value) > hi:
        raise invalid(prefix, f"{label} must be at most {hi} characters")


def check_range(obj: dict, key: str, lo: float, hi: float, prefix: str, *,
                label: str | None = None, kind: type = int) -> None:
    value = _typecheck(obj, key, kind, prefix)
    if value is None:
        return
    if not lo <= value <= hi:
        raise invalid(prefix, f"{label or key} must be between {lo} and {hi} (got {value})")


def check_enum(obj: dict, key: str, allowed: Iterable[str], prefix: str) -> None:
    value = _typecheck(obj, key, str, prefix)
    if value is not None and value not in allowed:
        expected = ", ".join(f"`{a}`" for a in allowed)
        raise shape_error(prefix, f"unknown variant `{value}`, expected one of {expected}")


def split_hostport(addr: str) -> tuple[str, int] | None:
    """``ip:port``, ``[v6]:port`` or ``host:port`` → (host, port); None if malformed."""
    if not isinstance(addr, str) or not addr:
        return None
    if addr.startswith("["):
        end = addr.find("]:")
        if end < 0:
            return None
        host, port_s = addr[1:end], addr[end + 2:]
    else:
        host, sep, port_s = addr.rpartition(":")
        if not sep or ":" in host:
            return None
    if not host or not port_s.isdigit():
        return None
    port = int(port_s)
    if port > 65535:
        return None
    return host, port


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def check_sockaddr(obj: dict, key: str, prefix: str, *, ip_only: bool = True,
                   required: bool = False, even_port: bool = False) -> None:
    if required:
        require(obj, key, prefix)
    value = _typecheck(obj, key, str, prefix)
    if value is None:
        return
    parts = split_hostport(value)
    if parts is None or (ip_only and not is_ip(parts[0])):
        raise invalid(prefix, f"invalid socket address '{value}' for {key}")
    if even_port and parts[1] % 2:
        raise invalid(prefix, f"{key} port must be even (RTCP uses port+1), got {parts[1]}")


def check_ip(obj: dict, key: str, prefix: str) -> None:
    value = _typecheck(obj, key, str, prefix)
    if value is not None and not is_ip(value):
        raise invalid(prefix, f"invalid IP address '{value}' for {key}")


def check_url(obj: dict, key: str, schemes: tuple[str, ...], prefix: str, *,
              required: bool = False) -> None:
    if required:
        require(obj, key, prefix)
    value = _typecheck(obj, key, str, prefix)
    if value is None:
        return
    if len(value) > 2048:
        raise invalid(prefix, f"{key} must be at most 2048 characters")
    if not any(value.startswith(s + "://") for s in schemes):
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise invalid(prefix, f"{key} must start with {allowed}")


def _common_id_name(obj: dict, what: str, prefix: str) -> None:
    require(obj, "id", prefix)
    require(obj, "name", prefix)
    check_len(obj["id"], 1, 64, f"{what} ID", prefix)
    check_len(obj["name"], 1, 256, f"{what} name", prefix)
    check_len(_typecheck(obj, "group", str, prefix), 0, 64, "group", prefix)
    _typecheck(obj, "active", bool, prefix)


def _check_srt_knobs(obj: dict, prefix: str) -> None:
    mode = require(obj, "mode", prefix)
    check_enum(obj, "mode", SRT_MODES, prefix)
    if mode in ("listener", "rendezvous") and not obj.get("local_addr"):
        raise invalid(prefix, f"SRT {mode} mode requires local_addr")
    if mode in ("caller", "rendezvous") and not obj.get("remote_addr"):
        raise invalid(prefix, f"SRT {mode} mode requires remote_addr")
    check_sockaddr(obj, "local_addr", prefix)
    check_sockaddr(obj, "remote_addr", prefix, ip_only=False)
    pw = _typecheck(obj, "passphrase", str, prefix)
    if pw is not None and not 10 <= len(pw) <= 79:
        raise invalid(prefix, "SRT passphrase must be 10-79 characters")
    key_len = _typecheck(obj, "aes_key_len", int, prefix)
    if key_len is not None and key_len not in (16, 24, 32):
        raise invalid(prefix, f"aes_key_len must be 16, 24 or 32 (got {key_len})")
    check_enum(obj, "crypto_mode", ("aes-ctr", "aes-gcm"), prefix)
    if obj.get("crypto_mode") == "aes-gcm" and key_len == 24:
        raise invalid(prefix, "crypto_mode aes-gcm does not support aes_key_len 24")
    check_len(_typecheck(obj, "stream_id", str, prefix), 0, 512, "stream_id", prefix)
    if obj.get("packet_filter") and mode == "rendezvous":
        raise invalid(prefix, "packet_filter (FEC) is not supported in rendezvous mode")
    check_range(obj, "overhead_bw", 5, 100, prefix)
    for key in ("flight_flag_size", "send_buffer_size", "recv_buffer_size"):
        check_range(obj, key, 32, 2**31, prefix)
    check_range(obj, "ip_tos", 0, 255, prefix)
    check_range(obj, "ip_ttl", 1, 255, prefix)
    check_range(obj, "payload_size", 188, 1456, prefix)
    check_range(obj, "mss", 76, 9000, prefix)
    check_enum(obj, "retransmit_algo", ("default", "reduced"), prefix)
    for key in ("latency_ms", "peer_idle_timeout_secs", "recv_latency_ms", "peer_latency_ms"):
        check_range(obj, key, 0, 2**32, prefix)


def _check_common_media(obj: dict, prefix: str) -> None:
    check_range(obj, "program_number", 1, 65535, prefix)
    check_range(obj, "ingress_delay_ms", 0, 1000, prefix)
    pid_map = _typecheck(obj, "pid_map", dict, prefix)
    for key in (pid_map or {}):
        if not str(key).isdigit():
            raise invalid(prefix, f"pid_map key '{key}' must be a decimal PID")
    mbps = _typecheck(obj, "max_bitrate_mbps", float, prefix)
    if mbps is not None and not 0 < mbps <= 10000:
        raise invalid(prefix, f"max_bitrate_mbps must be > 0 and <= 10000 (got {mbps})")
    for key in ("allowed_payload_types",):
        for pt in _typecheck(obj, key, list, prefix) or []:
            if not isinstance(pt, int) or not 0 <= pt <= 127:
                raise invalid(prefix, f"{key} entries must be 0-127")
    check_range(obj, "clock_domain", 0, 127, prefix)
    red = _typecheck(obj, "redundancy", dict, prefix)
    if red:
        check_sockaddr(red, "bind_addr", prefix)
        check_range(red, "path_differential_ms", 5, 2000, prefix)


# --------------------------------------------------------------------------- objects
def parse_input(raw: Any, prefix: str = "Invalid input config: ") -> dict:
    if not isinstance(raw, dict):
        raise shape_error(prefix, "invalid type: expected a map")
    obj = copy.deepcopy(raw)
    _common_id_name(obj, "Input", prefix)
    t = require(obj, "type", prefix)
    check_enum(obj, "type", INPUT_TYPES, prefix)
    obj.setdefault("active", True)
    _check_common_media(obj, prefix)
    if t == "srt":
        _check_srt_knobs(obj, prefix)
    elif t in ("rtp", "udp", "st2110_30", "st2110_31", "st2110_40", "st2110_20", "st2110_23",
               "rtp_audio"):
        check_sockaddr(obj, "bind_addr", prefix, required=True)
        check_ip(obj, "interface_addr", prefix)
        check_ip(obj, "source_addr", prefix)
        if t == "udp" and obj.get("interface_addr"):
            bind_v6 = ":" in split_hostport(obj["bind_addr"])[0]  # type: ignore[index]
            if bind_v6 != (":" in obj["interface_addr"]):
                raise invalid(prefix, "interface_addr must be the same address family "
                                      "as bind_addr")
        if t.startswith("st2110"):
            check_range(obj, "payload_type", 96, 127, prefix)
        else:
            check_range(obj, "payload_type", 0, 127, prefix)
        if t in ("st2110_30", "st2110_31"):
            ch = _typecheck(obj, "channels", int, prefix)
            if ch is not None and ch not in (1, 2, 4, 8, 16):
                raise invalid(prefix, f"channels must be 1, 2, 4, 8 or 16 (got {ch})")
        fec = _typecheck(obj, "fec_decode", dict, prefix)
        if fec:
            require(fec, "columns", prefix, int)
            require(fec, "rows", prefix, int)
    elif t == "rist":
        check_sockaddr(obj, "bind_addr", prefix, required=True, even_port=True)
    elif t == "rtmp":
        check_sockaddr(obj, "listen_addr", prefix, required=True)
        check_len(_typecheck(obj, "app", str, prefix), 1, 64, "app", prefix)
        check_len(_typecheck(obj, "stream_key", str, prefix), 0, 256, "stream_key", prefix)
        check_range(obj, "max_publishers", 1, 1024, prefix)
    elif t == "rtsp":
        check_url(obj, "rtsp_url", ("rtsp", "rtsps"), prefix, required=True)
        check_enum(obj, "transport", ("tcp", "udp"), prefix)
    elif t == "webrtc":
        check_sockaddr(obj, "bind_addr", prefix)
    elif t == "whep":
        check_url(obj, "whep_url", ("http", "https"), prefix, required=True)
    elif t == "test_pattern":
        check_range(obj, "fps", 1, 60, prefix)
        check_range(obj, "width", 16, 7680, prefix)
        check_range(obj, "height", 16, 4320, prefix)
    for key, value in _INPUT_DEFAULTS.get(t, {}).items():
        obj.setdefault(key, copy.deepcopy(value))
    return obj


def parse_output(raw: Any, prefix: str = "Invalid output config: ") -> dict:
    if not isinstance(raw, dict):
        raise shape_error(prefix, "invalid type: expected a map")
    obj = copy.deepcopy(raw)
    t = require(obj, "type", prefix)
    check_enum(obj, "type", OUTPUT_TYPES, prefix)
    _common_id_name(obj, "Output", prefix)
    obj.setdefault("active", True)
    _check_common_media(obj, prefix)
    if t in ("udp", "rtp", "st2110_30", "st2110_31", "st2110_40", "st2110_20", "st2110_23",
             "rtp_audio"):
        check_sockaddr(obj, "dest_addr", prefix, required=True)
        check_sockaddr(obj, "bind_addr", prefix)
        check_ip(obj, "interface_addr", prefix)
        check_range(obj, "dscp", 0, 63, prefix)
        check_enum(obj, "egress_pacing", ("forward", "pcr", "servo"), prefix)
        if t.startswith("st2110"):
            check_range(obj, "payload_type", 96, 127, prefix)
    elif t == "srt":
        _check_srt_knobs(obj, prefix)
    elif t == "rist":
        check_sockaddr(obj, "remote_addr", prefix, required=True, ip_only=False,
                       even_port=True)
        check_sockaddr(obj, "local_addr", prefix)
    elif t == "rtmp":
        check_url(obj, "dest_url", ("rtmp", "rtmps"), prefix, required=True)
        key = require(obj, "stream_key", prefix)
        check_len(key, 1, 256, "stream_key", prefix)
        delay = _typecheck(obj, "reconnect_delay_secs", int, prefix)
        if delay is not None and delay <= 0:
            raise invalid(prefix, "reconnect_delay_secs must be > 0")
    elif t == "hls":
        check_url(obj, "ingest_url", ("http", "https"), prefix, required=True)
        check_range(obj, "segment_duration_secs", 0.5, 10, prefix, kind=float)
        check_range(obj, "max_segments", 1, 30, prefix)
        check_len(_typecheck(obj, "auth_token", str, prefix), 0, 4096, "auth_token", prefix)
    elif t == "cmaf":
        check_url(obj, "ingest_url", ("http", "https"), prefix, required=True)
        check_range(obj, "segment_duration_secs", 1, 10, prefix, kind=float)
        check_range(obj, "max_segments", 1, 30, prefix)
        check_len(_typecheck(obj, "auth_token", str, prefix), 0, 4096, "auth_token", prefix)
    elif t == "webrtc":
        check_enum(obj, "mode", ("whip_client", "whep_server"), prefix)
        if obj.get("mode", "whip_client") == "whip_client":
            check_url(obj, "whip_url", ("http", "https"), prefix, required=True)
        check_range(obj, "max_viewers", 1, 100, prefix)
    for key, value in _OUTPUT_DEFAULTS.get(t, {}).items():
        obj.setdefault(key, copy.deepcopy(value))
    return obj


def parse_flow(raw: Any, prefix: str = "Invalid flow config: ") -> dict:
    if not isinstance(raw, dict):
        raise shape_error(prefix, "invalid type: expected a map")
    obj = copy.deepcopy(raw)
    require(obj, "id", prefix)
    require(obj, "name", prefix)
    check_len(obj["id"], 1, 64, "Flow ID", prefix)
    check_len(obj["name"], 1, 256, "Flow name", prefix)
    for key in ("enabled", "media_analysis", "thumbnail"):
        _typecheck(obj, key, bool, prefix)
        obj.setdefault(key, True)
    check_range(obj, "thumbnail_interval_secs", 1, 60, prefix)
    check_range(obj, "thumbnail_program_number", 1, 65535, prefix)
    check_range(obj, "clock_domain", 0, 127, prefix)
    check_len(_typecheck(obj, "flow_group_id", str, prefix), 0, 64, "flow_group_id", prefix)
    check_enum(obj, "bandwidth_profile", ("standard", "high_bitrate", "uncompressed"), prefix)
    bw = _typecheck(obj, "bandwidth_limit", dict, prefix)
    if bw is not None:
        mbps = require(bw, "max_bitrate_mbps", prefix, float)
        if not 0 < mbps <= 10000:
            raise invalid(prefix, f"bandwidth_limit.max_bitrate_mbps must be > 0 and <= 10000 "
                                  f"(got {mbps})")
        check_enum(bw, "action", ("alarm", "block"), prefix)
        check_range(bw, "grace_period_secs", 1, 60, prefix)
        bw.setdefault("action", "alarm")
        bw.setdefault("grace_period_secs", 5)
    mc = _typecheck(obj, "master_clock", dict, prefix)
    if mc is not None:
        timeout = _typecheck(mc, "pll_lock_timeout_s", int, prefix)
        if timeout is not None and timeout != 0 and not 5 <= timeout <= 300:
            raise invalid(prefix, "master_clock.pll_lock_timeout_s must be 0 or 5-300")
        off = _typecheck(mc, "lipsync_offset_90k", int, prefix)
        if off is not None:
            mc["lipsync_offset_90k"] = max(-18000, min(18000, off))
    for key, what in (("input_ids", "input"), ("output_ids", "output")):
        ids = _typecheck(obj, key, list, prefix)
        if ids is None:
            obj.pop(key, None)
            continue
        seen = set()
        for ref in ids:
            if not isinstance(ref, str):
                raise shape_error(prefix, f"invalid type for `{key}`: expected a string")
            check_len(ref, 1, 64, f"{what} reference", prefix)
            if ref in seen:
                raise invalid(prefix, f"Flow '{obj['id']}' lists {what} '{ref}' twice")
            seen.add(ref)
        if not ids:
            obj.pop(key)
    return obj


def is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False


def parse_tunnel(raw: Any, prefix: str = "Invalid tunnel config: ") -> dict:
    if not isinstance(raw, dict):
        raise shape_error(prefix, "invalid type: expected a map")
    obj = copy.deepcopy(raw)
    require(obj, "id", prefix)
    require(obj, "name", prefix)
    if not is_uuid(obj["id"]):
        raise invalid(prefix, f"tunnel id '{obj['id']}' is not a valid UUID")
    require(obj, "protocol", prefix)
    check_enum(obj, "protocol", ("tcp", "udp"), prefix)
    require(obj, "mode", prefix)
    check_enum(obj, "mode", ("relay", "direct"), prefix)
    require(obj, "direction", prefix)
    check_enum(obj, "direction", ("ingress", "egress"), prefix)
    check_enum(obj, "transport", ("quic", "udp"), prefix)
    _typecheck(obj, "enabled", bool, prefix)
    obj.setdefault("enabled", True)
    obj.setdefault("transport", "quic")
    if obj["transport"] == "udp" and obj["protocol"] != "udp":
        raise invalid(prefix, "transport \"udp\" requires protocol \"udp\"")
    check_sockaddr(obj, "local_addr", prefix, required=True)
    legacy = obj.pop("relay_addr", None)        # §7.11 step 1: migrate a legacy relay_addr
    if legacy and not obj.get("relay_addrs"):
        obj["relay_addrs"] = [legacy]
    addrs = _typecheck(obj, "relay_addrs", list, prefix)
    if obj["mode"] == "relay":
        if not addrs or len(addrs) > 2:
            raise invalid(prefix, "relay mode requires 1-2 relay_addrs")
        if len(set(addrs)) != len(addrs):
            raise invalid(prefix, "relay_addrs must not contain duplicates")
        for a in addrs:
            if split_hostport(a) is None:
                raise invalid(prefix, f"invalid relay address '{a}'")
    elif obj["direction"] == "egress" and not obj.get("peer_addr"):
        raise invalid(prefix, "direct mode egress requires peer_addr")
    elif obj["direction"] == "ingress" and not obj.get("direct_listen_addr"):
        raise invalid(prefix, "direct mode ingress requires direct_listen_addr")
    check_range(obj, "max_rtt_failback_increase_ms", 0, 5000, prefix)
    for key in ("tunnel_encryption_key", "tunnel_bind_secret", "tunnel_psk"):
        value = _typecheck(obj, key, str, prefix)
        if value is not None and not _HEX64.match(value):
            raise invalid(prefix, f"{key} must be 64 hex characters")
    if obj["transport"] != "udp":
        for key in ("interface", "source", "gateway"):
            if obj.get(key):
                raise invalid(prefix, f"{key} requires transport \"udp\"")
    return obj


def arg(action: dict, key: str, kind: type = str, *, optional: bool = False) -> Any:
    """A command argument: missing → ``missing_field``, wrong JSON type → ``invalid_value``."""
    value = action.get(key)
    if value is None:
        if optional:
            return None
        raise CommandError(f"missing field `{key}`", "missing_field")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CommandError(f"invalid type for `{key}`", "invalid_value")
    return value
