"""The simulator's state file: atomic 0600 writes, coalesced saves, formats."""

from __future__ import annotations

import asyncio
import json
import os
import stat

import pytest

from bilbycast.simulator.fleet import api_base_from_url, node_names, wanted_nodes
from bilbycast.simulator.state import StateStore, atomic_write, load_entries


def test_atomic_write_is_0600_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")
    os.chmod(path, 0o644)
    old_umask = os.umask(0)
    try:
        atomic_write(str(path), b'{"version": 1, "nodes": []}')
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text()) == {"version": 1, "nodes": []}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    atomic_write(str(path), b"old")

    def boom(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write(str(path), b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_saves_are_coalesced_and_complete(tmp_path):
    path = str(tmp_path / "s.json")
    store = StateStore(path, [{"name": f"n{i}", "device_type": "edge",
                               "registration_token": f"t{i}"} for i in range(200)])

    async def register(i):
        entry = store.entries[i]
        entry["node_id"], entry["node_secret"] = f"id{i}", f"secret{i}"
        entry.pop("registration_token")
        await store.save()
        # when save() returns, this node's credentials are on disk
        on_disk = {e["name"]: e for e in load_entries(path)}
        assert on_disk[f"n{i}"]["node_secret"] == f"secret{i}"

    async def main():
        await asyncio.gather(*(register(i) for i in range(200)))
    asyncio.run(main())
    assert store.writes < 50
    entries = load_entries(path)
    assert len(entries) == 200 and all("registration_token" not in e for e in entries)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_load_formats_and_errors(tmp_path):
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps([{"name": "a", "registration_token": "t"}]))
    assert load_entries(str(bare)) == [{"name": "a", "registration_token": "t",
                                        "device_type": "edge"}]
    assert load_entries(str(tmp_path / "missing.json")) == []
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"nodes": [{"name": "x", "device_type": "toaster"}]}))
    with pytest.raises(ValueError):
        load_entries(str(bad))
    store = StateStore(str(tmp_path / "doc.json"),
                       [{"name": "r", "device_type": "relay", "node_id": "i", "node_secret": "s",
                         "registration_token": None, "custom": 1}])
    doc = store.document()
    assert doc == {"version": 1, "nodes": [{"name": "r", "device_type": "relay",
                                            "node_id": "i", "node_secret": "s", "custom": 1}]}


def test_names_and_plans():
    assert node_names("sim-", "edge", 2) == ["sim-edge-01", "sim-edge-02"]
    assert node_names("demo-", "appear_x", 1) == ["demo-appear_x-01"]
    assert node_names("sim-", "edge", 120)[-1] == "sim-edge-120"
    assert wanted_nodes("sim-", "relay", 1, 1, 1) == [("sim-relay-01", "relay"),
                                                      ("sim-relay-02", "relay"),
                                                      ("sim-appear_x-01", "appear_x")]
    assert api_base_from_url("wss://m.example:8443/ws/node") == "https://m.example:8443"


def test_cli_rejects_a_broken_state_file(tmp_path):
    import argparse

    from bilbycast.simulator import cli
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert cli.run(parser.parse_args(["--state-file", str(broken)])) == 2
