"""JSON schemas of the edge config model (node-protocol.md §7, edge 0.106.0).

Entity objects (inputs, outputs, flows, tunnels, the AppConfig root) allow unknown fields: the
edge ignores fields it does not know (§3.4), and the many optional blocks the manager does not
model (`tr101290`, `assembly`, `transcode`, …) must round-trip. Limits are those of §7.8.
Conditional rules the schema subset cannot express (SRT mode → required address, even RIST
ports, `aes-gcm` not with 24) live in `edge_rules`.
"""

from __future__ import annotations

from typing import Any

PLACEHOLDER_RE = r"\{\{secret\}\}"


def string(min_length: int | None = None, max_length: int | None = None,
           pattern: str | None = None, **extra: Any) -> dict:
    schema: dict[str, Any] = {"type": "string"}
    if min_length is not None:
        schema["minLength"] = min_length
    if max_length is not None:
        schema["maxLength"] = max_length
    if pattern is not None:
        schema["pattern"] = pattern
    schema.update(extra)
    return schema


def integer(minimum: int | None = None, maximum: int | None = None) -> dict:
    schema: dict[str, Any] = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def number(minimum: float | None = None, maximum: float | None = None, *,
           exclusive_minimum: float | None = None) -> dict:
    schema: dict[str, Any] = {"type": "number"}
    if minimum is not None:
        schema["minimum"] = minimum
    if exclusive_minimum is not None:
        schema["exclusiveMinimum"] = exclusive_minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def enum(*values: Any) -> dict:
    return {"enum": list(values)}


def array(items: dict, min_items: int | None = None, max_items: int | None = None) -> dict:
    schema: dict[str, Any] = {"type": "array", "items": items}
    if min_items is not None:
        schema["minItems"] = min_items
    if max_items is not None:
        schema["maxItems"] = max_items
    return schema


def open_object(properties: dict | None = None, required: tuple[str, ...] = ()) -> dict:
    schema: dict[str, Any] = {"type": "object", "additionalProperties": True,
                              "properties": dict(properties or {})}
    if required:
        schema["required"] = list(required)
    return schema


BOOL = {"type": "boolean"}
ANY_OBJECT = {"type": "object"}
ENTITY_ID = string(1, 64, r"^[A-Za-z0-9._-]+$", **{"x-message": "must be 1–64 characters of A–Z, a–z, 0–9, '.', '_' or '-'"})
NAME = string(1, 256)
GROUP = string(None, 64)
ADDRESS = string(1, 2048)          # `ip:port` / `host:port`; syntax checked by edge_rules
IP_TEXT = string(1, 256)
URL_HTTP = string(1, 2048, r"^[Hh][Tt][Tt][Pp][Ss]?://", **{"x-message": "must be an http:// or https:// URL"})
URL_RTMP = string(1, 2048, r"^[Rr][Tt][Mm][Pp][Ss]?://", **{"x-message": "must be an rtmp:// or rtmps:// URL"})
URL_RTSP = string(1, 2048, r"^[Rr][Tt][Ss][Pp][Ss]?://", **{"x-message": "must be an rtsp:// or rtsps:// URL"})
URL_WSS = string(1, 2048, r"^[Ww][Ss][Ss]://", **{"x-message": "must be a wss:// URL"})
TOKEN = string(None, 4096)
HEX64_SECRET = string(None, None, rf"^([0-9a-fA-F]{{64}}|{PLACEHOLDER_RE})$",
                      **{"x-message": "must be 64 hexadecimal characters"})
UUID = string(36, 36, r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
              **{"x-message": "must be a UUID"})
PROGRAM_NUMBER = integer(1, 65535)
PAYLOAD_TYPE = integer(0, 127)
ST2110_PAYLOAD_TYPE = integer(96, 127)
CLOCK_DOMAIN = integer(0, 127)
MAX_BITRATE_MBPS = number(None, 10000, exclusive_minimum=0)
PID_MAP = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 8191}}
INTERFACE_BINDING = open_object({"name": string(1, 64), "strict": BOOL}, ("name",))
REDUNDANCY_UDP = open_object({"bind_addr": ADDRESS, "interface_addr": IP_TEXT, "source_addr": IP_TEXT,
                              "path_differential_ms": integer(5, 2000)}, ("bind_addr",))

# Fields every input type accepts (§7.3).
INPUT_COMMON = {
    "id": ENTITY_ID, "name": NAME, "active": BOOL, "group": GROUP,
    "audio_encode": ANY_OBJECT, "transcode": ANY_OBJECT, "video_encode": ANY_OBJECT,
    "program_number": PROGRAM_NUMBER, "pid_map": PID_MAP, "pid_overrides": {},
    "passthrough_clock": {}, "interface_binding": INTERFACE_BINDING,
    "ingress_delay_ms": integer(0, 1000), "ingress_smoothing_ms": integer(0, 1000),
    "external_address": {},
}

# SRT knobs shared by inputs and outputs.
SRT_FIELDS = {
    "mode": enum("caller", "listener", "rendezvous"),
    "local_addr": ADDRESS, "remote_addr": ADDRESS,
    "latency_ms": integer(0), "recv_latency_ms": integer(0), "peer_latency_ms": integer(0),
    "peer_idle_timeout_secs": integer(0),
    "passphrase": string(10, 79), "aes_key_len": enum(16, 24, 32),
    "crypto_mode": enum("aes-ctr", "aes-gcm"), "stream_id": string(None, 512),
    "packet_filter": string(1, 512), "max_bw": integer(), "input_bw": integer(),
    "overhead_bw": integer(5, 100), "max_rexmit_bw": integer(), "enforced_encryption": BOOL,
    "connect_timeout_secs": integer(0), "flight_flag_size": integer(32),
    "send_buffer_size": integer(32), "recv_buffer_size": integer(32), "ip_tos": integer(0, 255),
    "retransmit_algo": enum("default", "reduced"), "send_drop_delay": integer(),
    "loss_max_ttl": integer(0), "km_refresh_rate": integer(0), "km_pre_announce": integer(0),
    "payload_size": integer(188, 1456), "mss": integer(76, 9000), "tlpkt_drop": BOOL,
    "ip_ttl": integer(1, 255), "redundancy": ANY_OBJECT, "bonding": ANY_OBJECT,
    "transport_mode": string(1, 64),
}

DEJITTER = {"ingress_dejitter_ms": integer(0), "ingress_residence_ms": integer(0)}
ST2110_RX = {
    "bind_addr": ADDRESS, "interface_addr": IP_TEXT, "source_addr": IP_TEXT,
    "redundancy": REDUNDANCY_UDP, "payload_type": ST2110_PAYLOAD_TYPE, "clock_domain": CLOCK_DOMAIN,
    "allowed_sources": array(IP_TEXT), "max_bitrate_mbps": MAX_BITRATE_MBPS,
}
ST2110_AUDIO_RX = {
    **ST2110_RX, "sample_rate": integer(1), "bit_depth": integer(1),
    "channels": enum(1, 2, 4, 8, 16), "packet_time_us": integer(1),
}

# type -> (specific fields, required specific fields). Types with no modelled fields are open.
INPUT_TYPES: dict[str, tuple[dict, tuple[str, ...]]] = {
    "srt": (SRT_FIELDS, ("mode",)),
    "rtp": ({"bind_addr": ADDRESS, "interface_addr": IP_TEXT, "source_addr": IP_TEXT,
             "fec_decode": open_object({"columns": integer(1), "rows": integer(1)}),
             "tr07_mode": {}, "allowed_sources": array(IP_TEXT),
             "allowed_payload_types": array(PAYLOAD_TYPE), "max_bitrate_mbps": MAX_BITRATE_MBPS,
             "redundancy": REDUNDANCY_UDP, **DEJITTER}, ("bind_addr",)),
    "udp": ({"bind_addr": ADDRESS, "interface_addr": IP_TEXT, "source_addr": IP_TEXT, **DEJITTER},
            ("bind_addr",)),
    "rist": ({"bind_addr": ADDRESS, "buffer_ms": integer(0), "max_nack_retries": integer(0),
              "cname": string(None, 256), "rtcp_interval_ms": integer(0), "redundancy": ANY_OBJECT},
             ("bind_addr",)),
    "rtmp": ({"listen_addr": ADDRESS, "app": string(1, 64), "stream_key": string(None, 256),
              "max_publishers": integer(1)}, ("listen_addr",)),
    "rtsp": ({"rtsp_url": URL_RTSP, "username": string(None, 256), "password": string(None, 4096),
              "transport": enum("tcp", "udp"), "timeout_secs": integer(1),
              "reconnect_delay_secs": integer(0)}, ("rtsp_url",)),
    "webrtc": ({"bind_addr": ADDRESS, "bearer_token": TOKEN, "video_only": BOOL,
                "public_ip": IP_TEXT, "stun_server": string(1, 2048)}, ()),
    "whep": ({"whep_url": URL_HTTP, "bearer_token": TOKEN, "video_only": BOOL,
              "accept_self_signed_cert": BOOL, "cert_fingerprint": string(1, 256)}, ("whep_url",)),
    "st2110_30": (ST2110_AUDIO_RX, ("bind_addr",)),
    "st2110_31": (ST2110_AUDIO_RX, ("bind_addr",)),
    "st2110_40": (ST2110_RX, ()),
    "st2110_20": (ST2110_RX, ()),
    "st2110_23": (ST2110_RX, ()),
    "rtp_audio": ({**ST2110_RX, "payload_type": PAYLOAD_TYPE}, ()),
    "bonded": ({}, ()),
    "test_pattern": ({"width": integer(1), "height": integer(1), "fps": integer(1, 60),
                      "video_bitrate_kbps": integer(1), "audio_enabled": BOOL,
                      "tone_hz": number(exclusive_minimum=0), "tone_dbfs": number(None, 0),
                      "av_sync_marker": {}, "screen_id": {}, "audio_channels": integer(1)}, ()),
    "mosaic": ({}, ()),
    "media_player": ({}, ()),
    "replay": ({}, ()),
    "mxl_video": ({}, ()),
    "mxl_audio": ({}, ()),
    "mxl_anc": ({}, ()),
    "sdi": ({}, ()),
}

OUTPUT_COMMON = {"id": ENTITY_ID, "name": NAME, "active": BOOL, "group": GROUP,
                 "program_number": PROGRAM_NUMBER, "pid_map": PID_MAP}

UDP_OUT = {
    "dest_addr": ADDRESS, "bind_addr": ADDRESS, "interface_addr": IP_TEXT, "dscp": integer(0, 63),
    "delay": {}, "cbr_pad_to_kbps": integer(0), "egress_pacing": enum("forward", "pcr", "servo"),
    "egress_buffer_ms": integer(0), "epoch_lock": {}, "interface_binding": INTERFACE_BINDING,
}
ST2110_TX = {"dest_addr": ADDRESS, "bind_addr": ADDRESS, "interface_addr": IP_TEXT,
             "dscp": integer(0, 63), "payload_type": ST2110_PAYLOAD_TYPE,
             "clock_domain": CLOCK_DOMAIN, "redundancy": ANY_OBJECT}

OUTPUT_TYPES: dict[str, tuple[dict, tuple[str, ...]]] = {
    "udp": ({**UDP_OUT, "transport_mode": string(1, 64)}, ("dest_addr",)),
    "rtp": ({**UDP_OUT, "fec_encode": ANY_OBJECT, "redundancy": ANY_OBJECT}, ("dest_addr",)),
    "srt": ({**SRT_FIELDS, "delay": {}, "cbr_pad_to_kbps": integer(0), "webrtc_compatible": BOOL},
            ("mode",)),
    "rist": ({"remote_addr": ADDRESS, "local_addr": ADDRESS, "buffer_ms": integer(0),
              "retransmit_buffer_capacity": integer(0), "cname": string(None, 256),
              "rtcp_interval_ms": integer(0), "redundancy": ANY_OBJECT}, ("remote_addr",)),
    "rtmp": ({"dest_url": URL_RTMP, "stream_key": string(1, 256),
              "reconnect_delay_secs": number(exclusive_minimum=0),
              "max_reconnect_attempts": integer(0)}, ("dest_url", "stream_key")),
    "hls": ({"ingest_url": URL_HTTP, "segment_duration_secs": number(0.5, 10),
             "auth_token": TOKEN, "max_segments": integer(1, 30)}, ("ingest_url",)),
    "cmaf": ({"ingest_url": URL_HTTP, "low_latency": BOOL, "chunk_duration_ms": integer(1),
              "segment_duration_secs": number(1, 10), "max_segments": integer(1, 30),
              "manifests": array(enum("hls", "dash"), 1, 2), "encryption": ANY_OBJECT,
              "auth_token": TOKEN}, ("ingest_url",)),
    "webrtc": ({"mode": enum("whip_client", "whep_server"), "whip_url": URL_HTTP,
                "bearer_token": TOKEN, "accept_self_signed_cert": BOOL,
                "cert_fingerprint": string(1, 256), "max_viewers": integer(1, 100),
                "public_ip": IP_TEXT, "video_only": BOOL, "webrtc_compatible": BOOL}, ()),
    "st2110_30": (ST2110_TX, ()),
    "st2110_31": (ST2110_TX, ()),
    "st2110_40": (ST2110_TX, ()),
    "st2110_20": (ST2110_TX, ()),
    "st2110_23": (ST2110_TX, ()),
    "rtp_audio": ({**ST2110_TX, "payload_type": PAYLOAD_TYPE}, ()),
    "bonded": ({}, ()),
    "display": ({}, ()),
    "sdi": ({}, ()),
    "mxl_video": ({}, ()),
    "mxl_audio": ({}, ()),
    "mxl_anc": ({}, ()),
}


def tagged_union(common: dict, types: dict[str, tuple[dict, tuple[str, ...]]]) -> dict:
    """`oneOf` told apart by the `type` const (the form product.md §6 allows)."""
    branches = []
    for type_name, (fields, required) in types.items():
        branch = open_object({"type": {"const": type_name}, **fields}, ("type", *required))
        branches.append(branch)
    schema = open_object({**common, "type": enum(*types)}, ("id", "name", "type"))
    schema["oneOf"] = branches
    return schema


def flat_type_schema(common: dict, types: dict[str, tuple[dict, tuple[str, ...]]], type_name: str) -> dict:
    """One protocol's schema with the common fields merged in (for generated forms)."""
    fields, required = types[type_name]
    return open_object({**common, "type": {"const": type_name}, **fields},
                       ("id", "name", "type", *required))


INPUT = tagged_union(INPUT_COMMON, INPUT_TYPES)
OUTPUT = tagged_union(OUTPUT_COMMON, OUTPUT_TYPES)

FLOW = open_object({
    "id": ENTITY_ID, "name": NAME, "enabled": BOOL, "media_analysis": BOOL, "thumbnail": BOOL,
    "thumbnail_program_number": PROGRAM_NUMBER, "thumbnail_interval_secs": integer(1, 60),
    "bandwidth_limit": open_object({"max_bitrate_mbps": MAX_BITRATE_MBPS,
                                    "action": enum("alarm", "block"),
                                    "grace_period_secs": integer(1, 60)}, ("max_bitrate_mbps",)),
    "flow_group_id": string(1, 64), "clock_domain": CLOCK_DOMAIN,
    "input_ids": array(ENTITY_ID), "output_ids": array(ENTITY_ID),
    "assembly": ANY_OBJECT, "content_analysis": ANY_OBJECT, "recording": ANY_OBJECT,
    "master_clock": open_object({"kind": string(1, 64), "lipsync_offset_90k": integer(),
                                 "pll_lock_timeout_s": integer(0, 300),
                                 "pll_lock_jitter_us": number(0)}),
    "bandwidth_profile": enum("standard", "high_bitrate", "uncompressed"),
}, ("id", "name"))

TUNNEL = open_object({
    "id": UUID, "name": string(1, 256), "enabled": BOOL, "protocol": enum("tcp", "udp"),
    "transport": enum("quic", "udp"), "mode": enum("relay", "direct"),
    "direction": enum("ingress", "egress"), "local_addr": ADDRESS,
    "relay_addrs": array(ADDRESS, 1, 2), "relay_addr": ADDRESS,
    "max_rtt_failback_increase_ms": integer(0, 5000),
    "tunnel_encryption_key": HEX64_SECRET, "tunnel_bind_secret": HEX64_SECRET,
    "tunnel_psk": HEX64_SECRET, "peer_addr": ADDRESS, "direct_listen_addr": ADDRESS,
    "tls_cert_pem": string(1, 65536), "tls_key_pem": string(1, 65536),
    "interface": string(1, 64), "source": IP_TEXT, "gateway": IP_TEXT,
}, ("id", "name", "protocol", "mode", "direction", "local_addr"))

BOND_UPLINK = open_object({"interface": string(1, 64), "capacity_bps": integer(0),
                           "min_viable_bps": integer(0), "demand_active_bps": integer(0)},
                          ("interface", "capacity_bps"))

FLOW_GROUP = open_object({"id": ENTITY_ID, "name": NAME, "clock_domain": CLOCK_DOMAIN,
                          "flows": array(ENTITY_ID)}, ("id", "name"))

APP_CONFIG = open_object({
    "version": {"const": 2, "x-message": "must be 2 (config schema version 2)"},
    "node_id": string(1, 64),
    "server": open_object({"listen_addr": IP_TEXT, "listen_port": integer(0, 65535),
                           "listen_addrs": array(IP_TEXT)}, ("listen_addr", "listen_port")),
    "monitor": open_object({"listen_addr": IP_TEXT, "listen_port": integer(0, 65535),
                            "listen_addrs": array(IP_TEXT)}, ("listen_addr", "listen_port")),
    "device_name": string(None, 256), "setup_enabled": BOOL,
    "manager": open_object({"enabled": BOOL, "urls": array(URL_WSS, 1, 16),
                            "accept_self_signed_cert": BOOL, "cert_fingerprint": string(1, 256),
                            "node_id": string(1, 64)}, ("urls",)),
    "inputs": array(INPUT), "outputs": array(OUTPUT), "flows": array(FLOW),
    "tunnels": array(TUNNEL), "flow_groups": array(FLOW_GROUP),
    "resource_limits": ANY_OBJECT, "tuning": ANY_OBJECT, "logging": ANY_OBJECT,
    "nmos_registration": ANY_OBJECT, "upgrades": ANY_OBJECT,
    "bond_uplinks": array(BOND_UPLINK), "cellular_uplinks": {"type": "array"},
    "starlink_uplinks": {"type": "array"}, "shared_leg_broker": BOOL,
}, ("version", "server", "flows"))


def entity_schemas() -> dict[str, dict]:
    """Schemas for forms and client-side validation: the unions plus one per protocol."""
    schemas = {"config": APP_CONFIG, "flow": FLOW, "input": INPUT, "output": OUTPUT, "tunnel": TUNNEL}
    for type_name in INPUT_TYPES:
        schemas[f"input.{type_name}"] = flat_type_schema(INPUT_COMMON, INPUT_TYPES, type_name)
    for type_name in OUTPUT_TYPES:
        schemas[f"output.{type_name}"] = flat_type_schema(OUTPUT_COMMON, OUTPUT_TYPES, type_name)
    return schemas
