"""Edge checks the JSON schema cannot express (node-protocol.md §7.3–§7.9).

Everything here works on documents that already passed the schema, returns `problem()`
dicts with JSON pointers, and never raises. The edge stays the authority; these checks exist so
that an operator gets a precise, field-level refusal before anything is sent.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from .base import problem
from .netaddr import Bind, SocketAddr, conflict_message, find_conflicts, parse_ip, parse_socket_addr
from .payload import as_dict, as_dicts, as_list, as_str

# Address fields a node binds locally: must be an IP literal and a port.
BIND_FIELDS = ("local_addr", "bind_addr", "listen_addr", "direct_listen_addr")
# Address fields a node connects to: a host name is fine.
REMOTE_FIELDS = ("remote_addr", "dest_addr", "peer_addr", "relay_addr")
IP_FIELDS = ("interface_addr", "source_addr", "public_ip", "source", "gateway")
ST2110_UDP_TYPES = {"rtp", "udp", "st2110_30", "st2110_31", "st2110_40", "st2110_20", "st2110_23",
                    "rtp_audio"}


# -- ids (a cached config may be malformed: only string ids count) ----------------------------

def entity_id(entity: Any) -> str | None:
    ident = entity.get("id") if isinstance(entity, dict) else None
    return ident if isinstance(ident, str) else None


def entity_ids(items: Any) -> set[str]:
    return {ident for ident in (entity_id(e) for e in as_dicts(items)) if ident is not None}


def by_id(items: Any) -> dict[str, dict]:
    return {entity_id(e): e for e in as_dicts(items) if entity_id(e) is not None}


def str_items(value: Any) -> list[tuple[int, str]]:
    """(index, id) for the string members of an id list such as `input_ids`."""
    return [(index, item) for index, item in enumerate(as_list(value)) if isinstance(item, str)]


# -- per-entity checks ------------------------------------------------------------------------

def address_problems(entity: dict, base: str) -> list[dict]:
    """Socket-address and IP syntax of one input, output or tunnel."""
    found: list[dict] = []
    for key in BIND_FIELDS + REMOTE_FIELDS:
        value = entity.get(key)
        if isinstance(value, str) and not _addr_ok(value, key in BIND_FIELDS):
            found.append(problem(f"{base}/{key}", _addr_hint(key in BIND_FIELDS)))
    for key in IP_FIELDS:
        value = entity.get(key)
        if isinstance(value, str) and parse_ip(value) is None:
            found.append(problem(f"{base}/{key}", "must be an IP address"))
    for index, value in enumerate(as_list(entity.get("allowed_sources"))):
        if isinstance(value, str) and parse_ip(value) is None:
            found.append(problem(f"{base}/allowed_sources/{index}", "must be an IP address"))
    for index, value in enumerate(as_list(entity.get("relay_addrs"))):
        if isinstance(value, str) and not _addr_ok(value, False):
            found.append(problem(f"{base}/relay_addrs/{index}", _addr_hint(False)))
    redundancy = entity.get("redundancy")
    if isinstance(redundancy, dict):
        found.extend(address_problems(redundancy, f"{base}/redundancy"))
    return found


def _addr_ok(text: str, bind: bool) -> bool:
    return parse_socket_addr(text, allow_hostname=not bind) is not None


def _addr_hint(bind: bool) -> str:
    return ("must be an IP address and port, such as 0.0.0.0:9000 or [::]:9000" if bind
            else "must be a host and port, such as 192.168.1.50:5004 or relay.example.com:4433")


def srt_problems(entity: dict, base: str) -> list[dict]:
    found = []
    mode = entity.get("mode")
    if mode in ("listener", "rendezvous") and not entity.get("local_addr"):
        found.append(problem(f"{base}/local_addr", f"is required for SRT mode {mode}"))
    if mode in ("caller", "rendezvous") and not entity.get("remote_addr"):
        found.append(problem(f"{base}/remote_addr", f"is required for SRT mode {mode}"))
    if mode == "rendezvous" and entity.get("packet_filter"):
        found.append(problem(f"{base}/packet_filter", "packet filters (FEC) are not available in rendezvous mode"))
    if entity.get("crypto_mode") == "aes-gcm" and entity.get("aes_key_len") == 24:
        found.append(problem(f"{base}/aes_key_len", "aes-gcm takes a 16- or 32-byte key, not 24"))
    return found


def input_problems(entity: dict, base: str) -> list[dict]:
    found = address_problems(entity, base)
    kind = as_str(entity.get("type"))
    if kind == "srt":
        found += srt_problems(entity, base)
    elif kind == "rist":
        found += _even_port(entity, "bind_addr", base)
    elif kind == "udp":
        bind = parse_socket_addr(as_str(entity.get("bind_addr")), allow_hostname=False)
        iface = parse_ip(entity.get("interface_addr")) if isinstance(entity.get("interface_addr"), str) else None
        if bind is not None and iface is not None and bind.ip is not None and bind.ip.version != iface.version:
            found.append(problem(f"{base}/interface_addr", "must be in the same address family as bind_addr"))
    return found


def output_problems(entity: dict, base: str) -> list[dict]:
    found = address_problems(entity, base)
    kind = as_str(entity.get("type"))
    if kind == "srt":
        found += srt_problems(entity, base)
    elif kind == "rist":
        found += _even_port(entity, "remote_addr", base)
    elif kind == "webrtc" and entity.get("mode", "whip_client") == "whip_client" and not entity.get("whip_url"):
        found.append(problem(f"{base}/whip_url", "is required for mode whip_client"))
    return found


def _even_port(entity: dict, key: str, base: str) -> list[dict]:
    addr = parse_socket_addr(as_str(entity.get(key)))
    if addr is not None and addr.port % 2:
        return [problem(f"{base}/{key}", "RIST needs an even port (RTCP uses the next one)")]
    return []


def flow_problems(flow: dict, base: str) -> list[dict]:
    found = []
    timeout = as_dict(flow.get("master_clock")).get("pll_lock_timeout_s")
    if isinstance(timeout, int) and 0 < timeout < 5:
        found.append(problem(f"{base}/master_clock/pll_lock_timeout_s", "must be 0 or 5–300"))
    for key in ("input_ids", "output_ids"):
        for ident, count in Counter(i for _, i in str_items(flow.get(key))).items():
            if count > 1:
                found.append(problem(f"{base}/{key}", f"lists '{ident}' more than once"))
    return found


def tunnel_problems(tunnel: dict, base: str) -> list[dict]:
    found = address_problems(tunnel, base)
    mode, transport = tunnel.get("mode"), tunnel.get("transport", "quic")
    relays = [r for r in as_list(tunnel.get("relay_addrs")) if isinstance(r, str)]
    if mode == "relay" and not relays and not tunnel.get("relay_addr"):
        found.append(problem(f"{base}/relay_addrs", "is required in relay mode (1–2 relay addresses)"))
    if len(set(relays)) != len(relays):
        found.append(problem(f"{base}/relay_addrs", "must not contain duplicates"))
    if mode == "direct" and tunnel.get("direction") == "egress" and not tunnel.get("peer_addr"):
        found.append(problem(f"{base}/peer_addr", "is required for a direct-mode egress tunnel"))
    if transport == "udp" and tunnel.get("protocol") != "udp":
        found.append(problem(f"{base}/transport", "transport udp carries only protocol udp"))
    for key in ("interface", "source", "gateway"):
        if tunnel.get(key) and transport != "udp":
            found.append(problem(f"{base}/{key}", "NIC pinning needs transport udp"))
    return found


# -- binds and the port-conflict rule (§7.9) --------------------------------------------------

def entity_binds(kind: str, entity: dict, base: str) -> list[Bind]:
    """Sockets one input or output binds. Passive outputs are not spawned, so they bind nothing."""
    if not isinstance(entity, dict):
        return []
    ident = entity_id(entity) or "?"
    owner = f"{kind} {ident}"
    proto = as_str(entity.get("type"))
    binds: list[Bind] = []

    def add(protocol: str, key: str, source: dict, pointer: str, port_offset: int = 0) -> None:
        addr = parse_socket_addr(as_str(source.get(key)), allow_hostname=False)
        if addr is None:
            return
        if port_offset:
            if addr.port + port_offset > 65535:
                return
            addr = SocketAddr(addr.host, addr.port + port_offset, addr.ip)
        binds.append(Bind(protocol, addr, owner, f"{pointer}/{key}"))

    if kind == "output" and entity.get("active") is False:
        return []
    if proto == "srt" or (kind == "output" and proto == "rist"):
        add("UDP", "local_addr", entity, base)
    if proto in ST2110_UDP_TYPES:
        add("UDP", "bind_addr", entity, base)
        redundancy = entity.get("redundancy")
        if kind == "input" and isinstance(redundancy, dict):
            add("UDP", "bind_addr", redundancy, f"{base}/redundancy")
    if kind == "input" and proto == "rist":
        add("UDP", "bind_addr", entity, base)
        add("UDP", "bind_addr", entity, base, port_offset=1)    # RTCP on port + 1
    if kind == "input" and proto == "rtmp":
        add("TCP", "listen_addr", entity, base)
    if kind == "input" and proto == "webrtc":
        add("TCP", "bind_addr", entity, base)                   # WHIP signalling over HTTP
    return binds


def service_binds(config: dict) -> list[Bind]:
    """The edge's own API server and monitor take part in the rule too (§7.9)."""
    binds = []
    for block_name in ("server", "monitor"):
        block = as_dict(config.get(block_name))
        port = block.get("listen_port")
        if not isinstance(port, int) or isinstance(port, bool):
            continue
        hosts = [block.get("listen_addr")] + as_list(block.get("listen_addrs"))
        for index, host in enumerate(hosts):
            ip = parse_ip(host) if isinstance(host, str) else None
            if ip is None:
                continue
            pointer = f"/{block_name}/listen_addr" if index == 0 else f"/{block_name}/listen_addrs/{index - 1}"
            binds.append(Bind("TCP", SocketAddr(str(ip), port, ip), f"the {block_name} API", pointer))
    return binds


def config_binds(config: dict, *, exclude: Iterable[tuple[str, str]] = ()) -> list[Bind]:
    """Every bind of a config, skipping entities being replaced (kind, id)."""
    skip = set(exclude)
    binds = service_binds(config)
    for kind, collection in (("input", "inputs"), ("output", "outputs")):
        for index, entity in enumerate(as_list(config.get(collection))):
            if isinstance(entity, dict) and (kind, entity_id(entity)) not in skip:
                binds += entity_binds(kind, entity, f"/{collection}/{index}")
    return binds


def conflict_problems(candidates: list[Bind], existing: list[Bind]) -> list[dict]:
    return [problem(new.pointer, conflict_message(new, old), "port_conflict")
            for new, old in find_conflicts(candidates, existing)]


# -- whole config -----------------------------------------------------------------------------

def config_problems(config: dict) -> list[dict]:
    """Every rule of §7.5 and §7.8–§7.9 for a whole AppConfig that passed the schema."""
    found: list[dict] = []
    inputs, outputs = as_dicts(config.get("inputs")), as_dicts(config.get("outputs"))
    flows, tunnels = as_dicts(config.get("flows")), as_dicts(config.get("tunnels"))
    for collection, items in (("inputs", inputs), ("outputs", outputs), ("flows", flows),
                              ("tunnels", tunnels), ("flow_groups", as_dicts(config.get("flow_groups")))):
        found += duplicate_id_problems(items, f"/{collection}")
    for index, entity in enumerate(inputs):
        found += input_problems(entity, f"/inputs/{index}")
    for index, entity in enumerate(outputs):
        found += output_problems(entity, f"/outputs/{index}")
    for index, tunnel in enumerate(tunnels):
        found += tunnel_problems(tunnel, f"/tunnels/{index}")
    input_ids, output_ids = entity_ids(inputs), entity_ids(outputs)
    for index, flow in enumerate(flows):
        base = f"/flows/{index}"
        found += flow_problems(flow, base)
        found += reference_problems(flow, base, input_ids, output_ids)
    found += membership_problems(flows, "/flows")
    flow_ids = entity_ids(flows)
    for g_index, group in enumerate(as_dicts(config.get("flow_groups"))):
        for f_index, ident in str_items(group.get("flows")):
            if ident not in flow_ids:
                found.append(problem(f"/flow_groups/{g_index}/flows/{f_index}", f"flow '{ident}' does not exist"))
    found += conflict_problems(config_binds(config), [])
    return found


def duplicate_id_problems(items: list[dict], base: str) -> list[dict]:
    seen: dict[str, int] = {}
    found = []
    for index, item in enumerate(items):
        ident = entity_id(item)
        if ident is None:
            continue
        if ident in seen:
            found.append(problem(f"{base}/{index}/id", f"duplicate id '{ident}' (also at index {seen[ident]})"))
        else:
            seen[ident] = index
    return found


def reference_problems(flow: dict, base: str, input_ids: set, output_ids: set) -> list[dict]:
    found = []
    for index, ident in str_items(flow.get("input_ids")):
        if ident not in input_ids:
            found.append(problem(f"{base}/input_ids/{index}", f"input '{ident}' does not exist; create it first"))
    for index, ident in str_items(flow.get("output_ids")):
        if ident not in output_ids:
            found.append(problem(f"{base}/output_ids/{index}", f"output '{ident}' does not exist; create it first"))
    return found


def membership_problems(flows: list[dict], base: str, *, pointers: list[str] | None = None) -> list[dict]:
    """An input belongs to at most one enabled flow; an output to at most one flow (§7.5)."""
    found = []
    input_owner: dict[str, str] = {}
    output_owner: dict[str, str] = {}
    for index, flow in enumerate(flows):
        flow_base = pointers[index] if pointers else f"{base}/{index}"
        flow_id = entity_id(flow)
        if flow.get("enabled", True) is not False:
            for i_index, ident in str_items(flow.get("input_ids")):
                if ident in input_owner and input_owner[ident] != flow_id:
                    found.append(problem(f"{flow_base}/input_ids/{i_index}",
                                         f"input '{ident}' already belongs to enabled flow '{input_owner[ident]}'"))
                else:
                    input_owner.setdefault(ident, flow_id)
        for o_index, ident in str_items(flow.get("output_ids")):
            if ident in output_owner and output_owner[ident] != flow_id:
                found.append(problem(f"{flow_base}/output_ids/{o_index}",
                                     f"output '{ident}' already belongs to flow '{output_owner[ident]}'"))
            else:
                output_owner.setdefault(ident, flow_id)
    return found
