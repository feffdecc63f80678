"""The assistant's pure parts, without a server: reply parsing and streaming, secret masking and
placeholder resolution, and the context budget on a large fleet (product.md §8.2–8.4, §13)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from bilbycast.drivers.edge import DRIVER as EDGE
from bilbycast.drivers.relay import DRIVER as RELAY
from bilbycast.services.ai.context import ContextBuilder, HistoryItem, NodeView, estimate_tokens
from bilbycast.services.ai.reply import ReplyStream, parse_reply, provider_schema
from bilbycast.services.ai.secrets import (Redactor, SecretRefs, extract_new_secrets, mask_config,
                                           misplaced_placeholders, resolve_placeholders)

NOW = datetime(2026, 5, 18, 0, 36, tzinfo=timezone.utc)


def edge_config(index: int) -> dict:
    return {"version": 2, "device_name": f"Edge {index}",
            "inputs": [{"id": "srt-in-1", "name": "Camera", "type": "srt", "mode": "listener",
                        "local_addr": "0.0.0.0:9000", "passphrase": f"camera-passphrase-{index:04d}"},
                       {"id": "rtp-in-2", "name": "Contribution", "type": "rtp", "bind_addr": "239.1.1.1:5004"}],
            "outputs": [{"id": "srt-out-1", "name": "Cloud", "type": "srt", "mode": "caller",
                         "remote_addr": "198.51.100.1:9100", "passphrase": f"cloud-passphrase-{index:04d}"},
                        {"id": "rtmp-out", "name": "Social", "type": "rtmp", "dest_url": "rtmp://live.example/app",
                         "stream_key": f"stream-key-{index:04d}"}],
            "flows": [{"id": "flow-1", "name": "Main", "enabled": True, "input_ids": ["srt-in-1"],
                       "output_ids": ["srt-out-1", "rtmp-out"]}]}


def node(index: int) -> NodeView:
    return NodeView(f"node-{index:04d}", f"edge-{index:04d}", "edge", "online", "healthy", "0.106.0",
                    ["ptp", "webrtc"], edge_config(index), None, None, EDGE)


def test_the_reply_text_streams_out_of_json_however_it_is_cut():
    answer = {"proposals": [{"node_id": "x", "title": "reply", "action": {"type": "a", "reply": "no"}}],
              "reply": "### Status\n\"quoted\" \\ é 😀 `8.40 Mbps`"}
    for ensure_ascii in (True, False):
        text = json.dumps(answer, ensure_ascii=ensure_ascii)
        for size in (1, 2, 3, 5, 64):
            stream = ReplyStream()
            assert "".join(stream.feed(text[i:i + size]) for i in range(0, len(text), size)) == answer["reply"]
    plain = ReplyStream()
    assert plain.feed("## Not") + plain.feed(" JSON") == "## Not JSON"


def test_replies_are_checked_against_the_reply_schema():
    fenced = parse_reply("```json\n" + json.dumps({"reply": "hi", "proposals": []}) + "\n```")
    assert fenced.structured and fenced.reply == "hi"
    loose = parse_reply("Sure! Here: {\"reply\": \"ok\", \"proposals\": [1]} hope it helps")
    assert loose.reply == "ok" and loose.proposals == [1]
    markdown = parse_reply("### Only markdown")
    assert not markdown.structured and markdown.reply == "### Only markdown" and markdown.proposals == []
    many = parse_reply(json.dumps({"reply": "x", "proposals": [{}] * 14}))
    assert len(many.proposals) == 10 and many.dropped == 4
    viewer = provider_schema([])
    assert viewer["properties"]["proposals"]["maxItems"] == 0
    operator = provider_schema(["deploy_flow"])
    action = operator["properties"]["proposals"]["items"]["properties"]["action"]
    assert action["properties"]["type"]["enum"] == ["deploy_flow"] and action["additionalProperties"] is True


def test_secrets_become_stable_placeholders_and_resolve_only_in_secret_fields():
    config = edge_config(1)
    refs, redactor = SecretRefs(), Redactor()
    masked, index = mask_config(EDGE, "n1", config, refs, redactor)
    text = json.dumps(masked)
    for secret in ("camera-passphrase-0001", "cloud-passphrase-0001", "stream-key-0001"):
        assert secret not in text
    assert set(index) == {"inputs/srt-in-1/passphrase", "outputs/srt-out-1/passphrase", "outputs/rtmp-out/stream_key"}
    again, _ = mask_config(EDGE, "n1", config, refs, Redactor())
    assert again == masked, "the same place keeps the same placeholder within a thread"
    stored = SecretRefs(json.loads(json.dumps(refs.to_json())))
    assert all("value" not in place and "camera" not in json.dumps(place) for place in stored.refs.values())
    assert redactor.text("flow named camera-passphrase-0001!") == f"flow named {index['inputs/srt-in-1/passphrase']}!"

    ref = index["inputs/srt-in-1/passphrase"]
    action = {"type": "create_output", "output": {"id": "o", "name": "Out", "type": "srt", "mode": "caller",
                                                  "remote_addr": "10.0.0.1:9000", "passphrase": ref}}
    assert misplaced_placeholders(EDGE, action) == []
    resolved, problems = resolve_placeholders(EDGE, action, stored, {}, lambda node_id: config if node_id == "n1" else None)
    assert problems == [] and resolved["output"]["passphrase"] == "camera-passphrase-0001"
    assert action["output"]["passphrase"] == ref, "the stored action keeps the placeholder"
    hidden, problems = resolve_placeholders(EDGE, action, stored, {}, lambda node_id: None)
    assert problems and hidden["output"]["passphrase"] == ref, "a node the caller cannot see resolves nothing"
    exfiltrate = {"type": "create_output", "output": {**action["output"], "name": ref}}
    assert misplaced_placeholders(EDGE, exfiltrate)[0]["path"] == "/output/name"

    written = {"type": "create_input", "input": {"id": "i", "name": "In", "type": "srt", "mode": "listener",
                                                 "local_addr": "0.0.0.0:9500", "passphrase": "typed-by-the-model"}}
    kept, new = extract_new_secrets(EDGE, written, stored)
    assert kept["input"]["passphrase"] == "{{secret:new-1}}" and new == {"new-1": "typed-by-the-model"}


def test_a_large_fleet_is_trimmed_to_the_local_budget_keeping_the_focus_node():
    nodes = [node(i) for i in range(300)] + [NodeView("relay-1", "relay-1", "relay", "online", "healthy", "0.10.6",
                                                      [], None, None, None, RELAY)]
    focus = nodes[7].id
    history = [HistoryItem("user" if i % 2 == 0 else "assistant", f"message {i} " + "words " * 200) for i in range(40)]
    built = ContextBuilder(nodes=nodes, drivers=[EDGE, RELAY], role_ok=lambda role: True, focus_id=focus,
                           focus_alarms=[{"severity": "warning", "message": "CC errors on flow-1"}],
                           history=history, message="What is wrong with edge-0007?", budget=12_000,
                           refs=SecretRefs(), redactor=Redactor(), now=NOW, viewer=False).build()
    total = estimate_tokens(built.system) + sum(estimate_tokens(m["content"]) + 4 for m in built.messages)
    assert total <= 12_000 and built.meta["truncated"] is True
    assert "## FOCUS NODE" in built.system and '"name":"edge-0007"' in built.system and "CC errors" in built.system
    assert "deploy_flow" in built.system and "Propose only actions listed under ACTIONS" in built.system
    assert built.messages[-1] == {"role": "user", "content": "What is wrong with edge-0007?"}
    assert built.messages[0]["role"] == "user"
    for i in (0, 7, 299):
        for secret in (f"camera-passphrase-{i:04d}", f"stream-key-{i:04d}"):
            assert secret not in built.system
    small = ContextBuilder(nodes=nodes[:3], drivers=[EDGE], role_ok=lambda role: True, focus_id=None,
                           focus_alarms=[], history=[], message="hi", budget=48_000, refs=SecretRefs(),
                           redactor=Redactor(), now=NOW, viewer=True).build()
    assert small.meta["truncated"] is False and small.action_types == []
    assert "You may not propose any action" in small.system and '"secrets"' in small.system
