"""Database work of the assistant (run on the database threads, never on the event loop):
keys, threads, messages, proposals, the ai_selection preference and retention."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import peewee as pw

from ...db.models import AIKey, AIMessage, AIProposal, AIThread, Event, Preference
from ...timeutil import iso, now_iso, utcnow
from .. import audit
from ..audit import Actor

KEY_TABLE, KEY_COLUMN = "ai_keys", "key_enc"
PROPOSAL_TABLE, PROPOSAL_COLUMN = "ai_proposals", "secrets_enc"


def key_row_id(user_id: str, provider: str) -> str:
    return f"{user_id}:{provider}"


# -- keys ------------------------------------------------------------------------------------

def get_key(user_id: str, provider: str) -> AIKey | None:
    return AIKey.get_or_none((AIKey.user_id == user_id) & (AIKey.provider == provider))


def list_keys(user_id: str) -> list[AIKey]:
    return list(AIKey.select().where(AIKey.user_id == user_id).order_by(AIKey.provider))


def set_key(user_id: str, provider: str, sealed: str | None, model_preference: Any, actor: Actor,
            change_preference: bool) -> AIKey | None:
    row = get_key(user_id, provider)
    stamp = now_iso()
    if row is None:
        if sealed is None:
            return None
        row = AIKey.create(user_id=user_id, provider=provider, key_enc=sealed,
                           model_preference=model_preference if change_preference else None, updated_at=stamp)
    else:
        if sealed is not None:
            row.key_enc = sealed
        if change_preference:
            row.model_preference = model_preference
        row.updated_at = stamp
        row.save()
    audit.record(actor, "ai.key.set", target_type="ai_key", target_id=provider,
                 details={"provider": provider, "key_changed": sealed is not None,
                          "model_preference": row.model_preference})
    return row


def delete_key(user_id: str, provider: str, actor: Actor) -> bool:
    count = AIKey.delete().where((AIKey.user_id == user_id) & (AIKey.provider == provider)).execute()
    audit.record(actor, "ai.key.delete", target_type="ai_key", target_id=provider,
                 result="success", details={"provider": provider, "existed": bool(count)})
    return bool(count)


# -- preference ------------------------------------------------------------------------------

def get_selection(user_id: str) -> dict | None:
    row = Preference.get_or_none((Preference.user_id == user_id) & (Preference.key == "ai_selection"))
    return row.value if row is not None and isinstance(row.value, dict) else None


def set_selection(user_id: str, provider: str, model: str) -> None:
    Preference.insert(user_id=user_id, key="ai_selection", value={"provider": provider, "model": model}).on_conflict(
        conflict_target=[Preference.user_id, Preference.key], update={Preference.value: pw.EXCLUDED.value}).execute()


# -- threads ---------------------------------------------------------------------------------

def thread_of(user_id: str, thread_id: str) -> AIThread | None:
    return AIThread.get_or_none((AIThread.id == thread_id) & (AIThread.user_id == user_id))


def list_threads(user_id: str, limit: int) -> list[AIThread]:
    return list(AIThread.select().where(AIThread.user_id == user_id)
                .order_by(AIThread.updated_at.desc(), AIThread.created_at.desc()).limit(limit))


def thread_detail(user_id: str, thread_id: str) -> tuple[AIThread, list[AIMessage], list[AIProposal]] | None:
    thread = thread_of(user_id, thread_id)
    if thread is None:
        return None
    messages = list(AIMessage.select().where(AIMessage.thread_id == thread_id).order_by(AIMessage.seq))
    proposals = list(AIProposal.select().where(AIProposal.thread_id == thread_id)
                     .order_by(AIProposal.created_at, AIProposal.seq))
    return thread, messages, proposals


def delete_thread(user_id: str, thread_id: str) -> bool:
    return bool(AIThread.delete().where((AIThread.id == thread_id) & (AIThread.user_id == user_id)).execute())


def save_turn(user_id: str, thread_id: str | None, title: str, node_id: str | None, refs: dict,
              user_text: str, assistant: dict, proposals: list[dict], sealed_for: Any) -> dict:
    """Store one exchange in one transaction. `proposals` hold final column values except the
    ids and `secrets_enc`; `sealed_for(proposal_id, values)` seals a proposal's new secrets."""
    stamp = now_iso()
    if thread_id is None:
        thread = AIThread.create(id=str(uuid.uuid4()), user_id=user_id, title=title, node_id=node_id,
                                 secret_refs=refs, message_count=0, created_at=stamp, updated_at=stamp)
    else:
        thread = thread_of(user_id, thread_id)
        if thread is None:
            raise LookupError("thread vanished")
    seq = thread.message_count
    user_msg = AIMessage.create(id=str(uuid.uuid4()), thread_id=thread.id, seq=seq, role="user",
                                content=user_text, provider=None, model=None, usage=None, created_at=stamp)
    reply_stamp = now_iso()
    reply = AIMessage.create(id=str(uuid.uuid4()), thread_id=thread.id, seq=seq + 1, role="assistant",
                             content=assistant["content"], provider=assistant["provider"], model=assistant["model"],
                             usage=assistant.get("usage"), created_at=reply_stamp)
    rows = []
    for index, values in enumerate(proposals):
        proposal_id = str(uuid.uuid4())
        new_secrets = values.pop("new_secrets", None)
        row = AIProposal.create(id=proposal_id, thread_id=thread.id, message_id=reply.id, user_id=user_id, seq=index,
                                secrets_enc=sealed_for(proposal_id, new_secrets) if new_secrets else None,
                                created_at=reply_stamp, **values)
        rows.append(row)
    thread.message_count = seq + 2
    thread.secret_refs = refs
    thread.updated_at = reply_stamp
    if node_id is not None and thread_id is None:
        thread.node_id = node_id
    thread.save()
    return {"thread": thread, "user": user_msg, "assistant": reply, "proposals": rows}


def store_refs(thread_id: str, refs: dict) -> None:
    AIThread.update(secret_refs=refs).where(AIThread.id == thread_id).execute()


def add_note(thread_id: str, content: str, provider: str | None) -> AIMessage | None:
    """An assistant-side note in the thread (the result of an applied read-only action)."""
    thread = AIThread.get_or_none(AIThread.id == thread_id)
    if thread is None:
        return None
    stamp = now_iso()
    message = AIMessage.create(id=str(uuid.uuid4()), thread_id=thread_id, seq=thread.message_count,
                               role="assistant", content=content, provider=provider, model=None, usage=None,
                               created_at=stamp)
    thread.message_count += 1
    thread.updated_at = stamp
    thread.save()
    return message


# -- proposals -------------------------------------------------------------------------------

def proposal_of(user_id: str, proposal_id: str) -> tuple[AIProposal, AIThread] | None:
    row = AIProposal.get_or_none((AIProposal.id == proposal_id) & (AIProposal.user_id == user_id))
    if row is None:
        return None
    thread = AIThread.get_or_none(AIThread.id == row.thread_id)
    return (row, thread) if thread is not None else None


def update_proposal(proposal_id: str, **values: Any) -> AIProposal:
    AIProposal.update(**values).where(AIProposal.id == proposal_id).execute()
    return AIProposal.get_by_id(proposal_id)


def discard(proposal_id: str, user_id: str, actor: Actor, details: dict) -> AIProposal | None:
    count = AIProposal.update(status="discarded", decided_at=now_iso(), decided_by=user_id).where(
        (AIProposal.id == proposal_id) & (AIProposal.status == "pending")).execute()
    if not count:
        return None
    row = AIProposal.get_by_id(proposal_id)
    audit.record(actor, "ai.proposal.discard", target_type="ai_proposal", target_id=proposal_id,
                 node_id=row.node_id, details=details)
    return row


# -- context ---------------------------------------------------------------------------------

def focus_alarms(node_id: str, limit: int) -> list[dict]:
    rows = (Event.select().where((Event.node_id == node_id) & Event.acknowledged_at.is_null()
                                 & Event.severity.in_(("warning", "critical")))
            .order_by(Event.created_at.desc()).limit(limit))
    return [{"severity": r.severity, "category": r.category, "message": r.message[:500],
             "error_code": r.error_code, "flow_id": r.flow_id, "at": r.created_at} for r in rows]


# -- retention -------------------------------------------------------------------------------

def expire_proposals() -> int:
    return AIProposal.update(status="expired").where(
        (AIProposal.status == "pending") & (AIProposal.expires_at <= now_iso())).execute()


def prune_threads(retention_days: int) -> int:
    cutoff = iso(utcnow() - timedelta(days=max(1, retention_days)))
    return AIThread.delete().where(AIThread.updated_at < cutoff).execute()
