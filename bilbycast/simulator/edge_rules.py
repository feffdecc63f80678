"""The edge's port-conflict rule (§7.9) and whole-config rules (§7.1, §7.5).

Two binds conflict when port and protocol match and either side is a wildcard (``0.0.0.0`` /
``::``) or the IPs are equal; port 0 and multicast addresses are exempt; the API server and
monitor take part.  Tunnels do not: the spec's own examples put a UDP tunnel and an SRT
listener on ``0.0.0.0:9000`` of the same edge.
"""

from __future__ import annotations

import ipaddress

from .edge_validate import _typecheck, check_len, invalid, require, shape_error, split_hostport
from .wire import CommandError


# --------------------------------------------------------------------------- binds / §7.9
def _addr_bind(addr: str | None, proto: str, owner: str, component: str,
               out: list) -> None:
    parts = split_hostport(addr) if addr else None
    if parts is None:
        return
    host, port = parts
    out.append((proto, host, port, owner, component, addr))


def input_binds(inp: dict) -> list[tuple]:
    """(protocol, host, port, owner, component, addr) of every bind an input makes."""
    out: list = []
    t = inp.get("type")
    owner = f"input {inp.get('id')}"
    if t == "srt" and inp.get("mode") in ("listener", "rendezvous"):
        _addr_bind(inp.get("local_addr"), "UDP", owner, "SRT input listener", out)
    elif t in ("rtp", "udp", "st2110_30", "st2110_31", "st2110_40", "st2110_20", "st2110_23",
               "rtp_audio"):
        label = {"rtp": "RTP input", "udp": "UDP input"}.get(t, f"{t.upper()} input")
        _addr_bind(inp.get("bind_addr"), "UDP", owner, label, out)
    elif t == "rist":
        _addr_bind(inp.get("bind_addr"), "UDP", owner, "RIST input", out)
        parts = split_hostport(inp.get("bind_addr") or "")
        if parts and parts[1]:
            out.append(("UDP", parts[0], parts[1] + 1, owner, "RIST input RTCP",
                        f"{parts[0]}:{parts[1] + 1}"))
    elif t == "rtmp":
        _addr_bind(inp.get("listen_addr"), "TCP", owner, "RTMP input server", out)
    elif t == "webrtc":
        _addr_bind(inp.get("bind_addr"), "TCP", owner, "WebRTC WHIP server", out)
    red = inp.get("redundancy")
    if isinstance(red, dict) and red.get("bind_addr"):
        _addr_bind(red.get("bind_addr"), "UDP", owner, "redundancy leg", out)
    return out


def output_binds(out_cfg: dict) -> list[tuple]:
    out: list = []
    t = out_cfg.get("type")
    owner = f"output {out_cfg.get('id')}"
    if t == "srt" and out_cfg.get("mode") in ("listener", "rendezvous"):
        _addr_bind(out_cfg.get("local_addr"), "UDP", owner, "SRT output listener", out)
    elif t in ("udp", "rtp") and out_cfg.get("bind_addr"):
        _addr_bind(out_cfg.get("bind_addr"), "UDP", owner, f"{t.upper()} output", out)
    elif t == "rist" and out_cfg.get("local_addr"):
        _addr_bind(out_cfg.get("local_addr"), "UDP", owner, "RIST output", out)
    return out


def server_binds(cfg: dict) -> list[tuple]:
    out: list = []
    for block, owner in (("server", "the API server"), ("monitor", "the monitor server")):
        srv = cfg.get(block)
        if not isinstance(srv, dict) or srv.get("listen_port") is None:
            continue
        addrs = srv.get("listen_addrs") or [srv.get("listen_addr", "0.0.0.0")]
        for host in addrs:
            host = str(host).strip("[]")
            out.append(("TCP", host, int(srv["listen_port"]), owner, owner,
                        f"{host}:{srv['listen_port']}"))
    return out


def _exempt(host: str, port: int) -> bool:
    if port == 0:
        return True
    try:
        return ipaddress.ip_address(host).is_multicast
    except ValueError:
        return False


def _wild(host: str) -> bool:
    return host in ("0.0.0.0", "::")


def binds_conflict(a: tuple, b: tuple) -> bool:
    """§7.9: same port and protocol, and either side wildcard or the same IP."""
    if a[0] != b[0] or a[2] != b[2] or _exempt(a[1], a[2]) or _exempt(b[1], b[2]):
        return False
    return _wild(a[1]) or _wild(b[1]) or a[1] == b[1]


def port_conflict_error(new: tuple, existing: tuple) -> CommandError:
    return CommandError(f"Port conflict: {new[0]} {new[5]} is already bound by {existing[3]}",
                        "port_conflict")


def check_port_conflicts(binds: list[tuple]) -> None:
    """Raise ``port_conflict`` for the first bind that collides with an earlier one."""
    for i, new in enumerate(binds):
        for old in binds[:i]:
            if old[3] != new[3] and binds_conflict(new, old):
                raise port_conflict_error(new, old)


def config_binds(cfg: dict) -> list[tuple]:
    binds = server_binds(cfg)
    for inp in cfg.get("inputs") or []:
        binds.extend(input_binds(inp))
    for out in cfg.get("outputs") or []:
        binds.extend(output_binds(out))
    return binds


# --------------------------------------------------------------------------- whole config
def validate_app_config(cfg: dict, prefix: str = "Invalid config: ") -> None:
    """The whole-config rules (§7.1, §7.5, §7.9) — used by update_config and as a
    post-check after every fine-grained change."""
    version = cfg.get("version")
    if version != 2:
        raise invalid(prefix, f"unsupported config version {version} (expected 2)")
    server = cfg.get("server")
    if not isinstance(server, dict):
        raise shape_error(prefix, "missing field `server`")
    require(server, "listen_addr", prefix)
    require(server, "listen_port", prefix, int)
    check_len(_typecheck(cfg, "device_name", str, prefix), 0, 256, "device_name", prefix)
    seen: dict[str, set] = {}
    for coll, what in (("inputs", "input"), ("outputs", "output"), ("flows", "flow"),
                       ("tunnels", "tunnel"), ("flow_groups", "flow group")):
        ids = seen.setdefault(coll, set())
        for item in cfg.get(coll) or []:
            if item.get("id") in ids:
                raise CommandError(f"Duplicate {what} ID '{item.get('id')}'")
            ids.add(item.get("id"))
    inputs = {i["id"]: i for i in cfg.get("inputs") or []}
    input_owner: dict[str, str] = {}
    output_owner: dict[str, str] = {}
    for flow in cfg.get("flows") or []:
        fid = flow["id"]
        active = 0
        for iid in flow.get("input_ids") or []:
            if iid not in inputs:
                raise CommandError(f"Flow '{fid}' references input '{iid}' which does not exist")
            if inputs[iid].get("active", True):
                active += 1
            if flow.get("enabled", True):
                if iid in input_owner:
                    raise invalid("Invalid flow config: ",
                                  f"input '{iid}' is already used by enabled flow "
                                  f"'{input_owner[iid]}'")
                input_owner[iid] = fid
        if active > 1:
            raise invalid("Invalid flow config: ",
                          f"Flow '{fid}' has more than one active input")
        for oid in flow.get("output_ids") or []:
            if oid not in seen["outputs"]:
                raise CommandError(f"Flow '{fid}' references output '{oid}' which does not exist")
            if oid in output_owner:
                raise invalid("Invalid flow config: ",
                              f"output '{oid}' is already used by flow '{output_owner[oid]}'")
            output_owner[oid] = fid
    for group in cfg.get("flow_groups") or []:
        for fid in group.get("flows") or []:
            if fid not in seen["flows"]:
                raise CommandError(f"Flow group '{group.get('id')}' references flow '{fid}' "
                                   f"which does not exist")
    check_port_conflicts(config_binds(cfg))
