"""The deterministic signal-flow layout of the topology's flow view (product.md §5.3).

Vertices are external sources, input ports, flows, tunnels, output ports and external
destinations; edges follow the signal. Cycles lose the back-edges a depth-first search finds
when it visits vertices in key order; columns are longest-path ranks; rows come from key order
refined by 4 down-and-up barycentre sweeps (ties keep key order). Nothing depends on input order,
time or randomness, so the same plant always gives the same picture.
"""

from __future__ import annotations

import heapq
from typing import Any

ROW_HEIGHT = 56
COLUMN_WIDTH = 240
SWEEPS = 4


def _graph(topology: dict) -> tuple[dict[str, dict], set[tuple[str, str]]]:
    vertices: dict[str, dict] = {}
    edges: set[tuple[str, str]] = set()

    def vertex(vid: str, kind: str, key: tuple, **refs: Any) -> str:
        vertices.setdefault(vid, {"id": vid, "kind": kind, "key": key, **refs})
        return vid

    relays = set()
    ports: dict[tuple[str, str], str] = {}
    for node in topology.get("nodes", []):
        name, nid = node.get("name") or "", node["id"]
        if node.get("icon") == "relay":
            relays.add(nid)   # relays are named inside the tunnel boxes, not drawn as columns
            continue
        flows = {}
        for flow in node.get("flows", []):
            fname = flow.get("name") or flow["id"]
            flows[flow["id"]] = (vertex(f"{nid}/flow:{flow['id']}", "flow", (name, fname, f"{nid}/flow:{flow['id']}"),
                                        node_id=nid, ref=flow["id"]), fname)
        for port in node.get("ports", []):
            vid = f"{nid}/{port['id']}"
            flow = flows.get(port.get("flow_id"))
            vertex(vid, "port", (name, flow[1] if flow else "", vid), node_id=nid, ref=port["id"])
            ports[(nid, port["id"])] = vid
            if flow:
                edges.add((vid, flow[0]) if port.get("direction") == "in" else (flow[0], vid))
    by_id = {n["id"]: n for n in topology.get("nodes", [])}
    names = {nid: n.get("name") or "" for nid, n in by_id.items()}

    def end_vertex(end: dict) -> str | None:
        if end.get("external_id"):
            ext = end["external_id"]
            return vertex(ext, "external", ("", "", ext), node_id=None, ref=ext)
        nid = end.get("node_id")
        if nid is None or nid in relays:
            return None
        if end.get("port_id") is not None:
            return ports.get((nid, end["port_id"]))
        return vertex(nid, "node", (names.get(nid, ""), "", nid), node_id=nid, ref=nid)

    for link in topology.get("links", []):
        if link.get("kind") != "flow":
            continue   # tunnel wires are drawn as the tunnel boxes below
        src, dst = end_vertex(link["from"]), end_vertex(link["to"])
        if src and dst and src != dst:
            edges.add((src, dst))
    for tunnel in topology.get("tunnels", []):
        tid = f"tunnel:{tunnel['id']}"
        vertex(tid, "tunnel", ("", tunnel.get("name") or "", tid), node_id=None, ref=tunnel["id"],
               relay_node_id=tunnel.get("relay_node_id"))
        for side, direction in (("egress", "out"), ("ingress", "in")):
            nid = (tunnel.get(side) or {}).get("node_id")
            node = by_id.get(nid)
            port = next((p for p in (node or {}).get("ports", []) if p.get("tunnel_id") == tunnel["id"]
                         and p.get("direction") == direction), None)
            vid = ports.get((nid, port["id"])) if port else None
            if vid:
                edges.add((vid, tid) if side == "egress" else (tid, vid))
    return vertices, edges


def _break_cycles(order: list[str], succ: dict[str, list[str]]) -> set[tuple[str, str]]:
    """Back-edges of a depth-first search that starts from vertices in key order."""
    state: dict[str, int] = {}
    back: set[tuple[str, str]] = set()
    for root in order:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            vid, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[vid] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((vid, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(succ[child])))
    return back


def signal_flow_layout(topology: dict) -> dict:
    """Column, row and pixel position of every flow-view element of an api.md §10.1 document."""
    vertices, edges = _graph(topology)
    order = sorted(vertices, key=lambda v: vertices[v]["key"])
    rank = {vid: i for i, vid in enumerate(order)}
    succ: dict[str, list[str]] = {v: [] for v in order}
    for a, b in edges:
        succ[a].append(b)
    for children in succ.values():
        children.sort(key=rank.__getitem__)
    back = _break_cycles(order, succ)
    dag = sorted((e for e in edges if e not in back), key=lambda e: (rank[e[0]], rank[e[1]]))
    preds: dict[str, list[str]] = {v: [] for v in order}
    nexts: dict[str, list[str]] = {v: [] for v in order}
    for a, b in dag:
        preds[b].append(a)
        nexts[a].append(b)

    # Longest-path columns, in a topological order that also follows key order.
    column = {v: 0 for v in order}
    waiting = {v: len(preds[v]) for v in order}
    ready = [rank[v] for v in order if waiting[v] == 0]
    heapq.heapify(ready)
    while ready:
        vid = order[heapq.heappop(ready)]
        for child in nexts[vid]:
            column[child] = max(column[child], column[vid] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, rank[child])
    width = max(column.values(), default=-1) + 1
    columns: list[list[str]] = [[] for _ in range(width)]
    for vid in order:
        columns[column[vid]].append(vid)
    position = {vid: float(i) for col in columns for i, vid in enumerate(col)}

    def reorder(col: list[str], neighbours: dict[str, list[str]]) -> None:
        if len(col) < 2:
            return

        def centre(vid: str) -> float:
            near = neighbours[vid]
            return sum(position[n] for n in near) / len(near) if near else position[vid]
        col.sort(key=lambda v: (centre(v), rank[v]))
        for i, vid in enumerate(col):
            position[vid] = float(i)

    for _ in range(SWEEPS):
        for col in columns[1:]:
            reorder(col, preds)
        for col in reversed(columns[:-1]):
            reorder(col, nexts)

    # Rows: a vertex sits level with its highest source, below whatever is already placed, so a
    # fan-out stacks vertically under the element that feeds it.
    row: dict[str, int] = {}
    for col in columns:
        last = -1
        for vid in col:
            target = min((row[p] for p in preds[vid]), default=0)
            row[vid] = max(target, last + 1)
            last = row[vid]
    placed = []
    for vid in sorted(order, key=lambda v: (column[v], row[v])):
        item = {k: v for k, v in vertices[vid].items() if k != "key"}
        item.update(column=column[vid], row=row[vid], x=column[vid] * COLUMN_WIDTH, y=row[vid] * ROW_HEIGHT)
        placed.append(item)
    return {"column_width": COLUMN_WIDTH, "row_height": ROW_HEIGHT, "vertices": placed,
            "edges": [{"from": a, "to": b, "back": (a, b) in back}
                      for a, b in sorted(edges, key=lambda e: (rank[e[0]], rank[e[1]]))]}
