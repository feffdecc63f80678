"""Small helpers the node-hub tests share: run a scenario in a loop, call the REST API
asynchronously, create nodes, and poll until the manager has caught up."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

import httpx

from node_peer import NodePeer, registered_peer


def run(coro: Awaitable[Any], timeout: float = 90) -> Any:
    """Run one async scenario to completion (the suite has no asyncio plugin)."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


@asynccontextmanager
async def api_client(manager, token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=manager.base_url, verify=False, timeout=60,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def unique(prefix: str = "node") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create_node(api: httpx.AsyncClient, name: str | None = None, device_type: str = "edge",
                      **fields: Any) -> dict[str, Any]:
    response = await api.post("/api/v1/nodes", json={"name": name or unique(device_type),
                                                      "device_type": device_type, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def new_registered(manager, api: httpx.AsyncClient, device_type: str = "edge",
                         name: str | None = None, **peer_kwargs: Any) -> tuple[dict[str, Any], NodePeer]:
    """A node record plus a peer that registered with its token (node online)."""
    if device_type == "relay":
        peer_kwargs.setdefault("software_version", "0.10.6")
        peer_kwargs.setdefault("protocol_version", 1)
    elif device_type == "appear_x":
        peer_kwargs.setdefault("software_version", "0.11.8")
        peer_kwargs.setdefault("protocol_version", 1)
        peer_kwargs.setdefault("device_type", "appear_x")
    peer_kwargs.setdefault("kind", device_type)
    node = await create_node(api, name, device_type)
    peer = await registered_peer(manager.ws_url, node["registration_token"], **peer_kwargs)
    assert peer.node_id == node["id"]
    return node, peer


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 5.0, interval: float = 0.05,
                     what: str = "condition") -> Any:
    """Poll an async check until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout} s (last: {last!r:.300})")
        await asyncio.sleep(interval)


async def node_status(api: httpx.AsyncClient, node_id: str) -> str | None:
    response = await api.get(f"/api/v1/nodes/{node_id}")
    return response.json().get("status") if response.status_code == 200 else None


async def wait_status(api: httpx.AsyncClient, node_id: str, status: str, timeout: float = 5.0) -> None:
    async def check():
        return await node_status(api, node_id) == status
    await eventually(check, timeout, what=f"node {node_id} {status}")


async def events_of(api: httpx.AsyncClient, node_id: str | None = None, **query: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"per_page": 200, **query}
    if node_id is not None:
        params["node_id"] = node_id
    response = await api.get("/api/v1/events", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def wait_event(api: httpx.AsyncClient, node_id: str | None, match: Callable[[dict], bool],
                     timeout: float = 5.0, **query: Any) -> dict[str, Any]:
    async def check():
        items = (await events_of(api, node_id, **query))["items"]
        return next((e for e in items if match(e)), None)
    return await eventually(check, timeout, what="event")


async def command(api: httpx.AsyncClient, node_id: str, action: dict[str, Any]) -> httpx.Response:
    return await api.post(f"/api/v1/nodes/{node_id}/command", json={"action": action})
