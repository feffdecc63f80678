"""peewee models over the tables that migrations.py creates (the ORM never creates tables).

Models are bound to a database at run time by `Database` (see database.py), so each
Application (and each test) uses its own file.
"""

from __future__ import annotations

import json

import peewee as pw


class JSONField(pw.TextField):
    """JSON stored as text; None stays NULL."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(pw.Model):
    class Meta:
        database = None
        legacy_table_names = False


class User(BaseModel):
    id = pw.TextField(primary_key=True)
    username = pw.TextField()
    username_lower = pw.TextField(unique=True)
    password_hash = pw.TextField()
    display_name = pw.TextField()
    email = pw.TextField(null=True)
    role = pw.TextField()
    is_temporary = pw.BooleanField(default=False)
    expires_at = pw.TextField(null=True)
    allowed_node_ids = JSONField(null=True)
    is_active = pw.BooleanField(default=True)
    must_change_password = pw.BooleanField(default=False)
    last_login_at = pw.TextField(null=True)
    created_at = pw.TextField()
    updated_at = pw.TextField()

    class Meta:
        table_name = "users"


class Session(BaseModel):
    id = pw.TextField(primary_key=True)
    user = pw.ForeignKeyField(User, column_name="user_id", on_delete="CASCADE")
    created_at = pw.TextField()
    expires_at = pw.TextField()
    csrf_token = pw.TextField()
    client_ip = pw.TextField(null=True)
    user_agent = pw.TextField(null=True)
    revoked_at = pw.TextField(null=True)

    class Meta:
        table_name = "sessions"


class LoginFailure(BaseModel):
    name_lower = pw.TextField(primary_key=True)
    failures = pw.IntegerField(default=0)
    locked_until = pw.TextField(null=True)
    updated_at = pw.TextField()

    class Meta:
        table_name = "login_failures"


class AuditRow(BaseModel):
    id = pw.AutoField()
    created_at = pw.TextField()
    user_id = pw.TextField(null=True)
    username = pw.TextField(null=True)
    action = pw.TextField()
    target_type = pw.TextField(null=True)
    target_id = pw.TextField(null=True)
    node_id = pw.TextField(null=True)
    result = pw.TextField()
    error_code = pw.TextField(null=True)
    details = JSONField(null=True)
    ip_address = pw.TextField(null=True)

    class Meta:
        table_name = "audit_log"


class Setting(BaseModel):
    key = pw.TextField(primary_key=True)
    value = JSONField()
    updated_at = pw.TextField()
    updated_by = pw.TextField(null=True)

    class Meta:
        table_name = "settings"


class Node(BaseModel):
    id = pw.TextField(primary_key=True)
    name = pw.TextField()
    description = pw.TextField(null=True)
    device_type = pw.TextField()
    token_hash = pw.TextField(null=True, unique=True)
    secret_enc = pw.TextField(null=True)
    previous_secret_enc = pw.TextField(null=True)
    pending_secret_enc = pw.TextField(null=True)
    software_version = pw.TextField(null=True)
    protocol_version = pw.IntegerField(null=True)
    capabilities = JSONField(null=True)
    last_health = JSONField(null=True)
    last_health_at = pw.TextField(null=True)
    last_seen_at = pw.TextField(null=True)
    registered_at = pw.TextField(null=True)
    connected_after_register = pw.BooleanField(default=False)
    expires_at = pw.TextField(null=True)
    web_ui_url = pw.TextField(null=True)
    created_at = pw.TextField()
    updated_at = pw.TextField()

    class Meta:
        table_name = "nodes"


class NodeConfig(BaseModel):
    node = pw.ForeignKeyField(Node, column_name="node_id", primary_key=True, on_delete="CASCADE")
    config_enc = pw.TextField()
    config_hash = pw.TextField()
    fetched_at = pw.TextField()

    class Meta:
        table_name = "node_configs"


class Event(BaseModel):
    id = pw.AutoField()
    node_id = pw.TextField(null=True)
    node_name = pw.TextField(null=True)
    source = pw.TextField()
    severity = pw.TextField()
    category = pw.TextField()
    message = pw.TextField()
    error_code = pw.TextField(null=True)
    details = JSONField(null=True)
    flow_id = pw.TextField(null=True)
    input_id = pw.TextField(null=True)
    output_id = pw.TextField(null=True)
    created_at = pw.TextField()
    acknowledged_by = pw.TextField(null=True)
    acknowledged_by_name = pw.TextField(null=True)
    acknowledged_at = pw.TextField(null=True)

    class Meta:
        table_name = "events"


class TopologyPosition(BaseModel):
    user_id = pw.TextField()
    view = pw.TextField()
    key = pw.TextField()
    x = pw.FloatField()
    y = pw.FloatField()

    class Meta:
        table_name = "topology_positions"
        primary_key = pw.CompositeKey("user_id", "view", "key")


class Preference(BaseModel):
    user_id = pw.TextField()
    key = pw.TextField()
    value = JSONField()

    class Meta:
        table_name = "preferences"
        primary_key = pw.CompositeKey("user_id", "key")


class AIKey(BaseModel):
    user_id = pw.TextField()
    provider = pw.TextField()
    key_enc = pw.TextField()
    model_preference = pw.TextField(null=True)
    updated_at = pw.TextField()

    class Meta:
        table_name = "ai_keys"
        primary_key = pw.CompositeKey("user_id", "provider")


class AIThread(BaseModel):
    id = pw.TextField(primary_key=True)
    user_id = pw.TextField()
    title = pw.TextField()
    node_id = pw.TextField(null=True)
    secret_refs = JSONField(null=True)       # ref -> {node_id, path}; never a secret value
    message_count = pw.IntegerField(default=0)
    created_at = pw.TextField()
    updated_at = pw.TextField()

    class Meta:
        table_name = "ai_threads"


class AIMessage(BaseModel):
    id = pw.TextField(primary_key=True)
    thread_id = pw.TextField()
    seq = pw.IntegerField()
    role = pw.TextField()
    content = pw.TextField()
    provider = pw.TextField(null=True)
    model = pw.TextField(null=True)
    usage = JSONField(null=True)
    created_at = pw.TextField()

    class Meta:
        table_name = "ai_messages"


class AIProposal(BaseModel):
    id = pw.TextField(primary_key=True)
    thread_id = pw.TextField()
    message_id = pw.TextField()
    user_id = pw.TextField()
    seq = pw.IntegerField()
    node_id = pw.TextField(null=True)
    node_name = pw.TextField(null=True)
    device_type = pw.TextField(null=True)
    action = JSONField()                     # secrets as {{secret:<ref>}} placeholders
    title = pw.TextField()
    summary = pw.TextField(null=True)
    requires_role = pw.TextField(null=True)
    status = pw.TextField()
    validation = JSONField()
    preview = JSONField(null=True)
    config_hash = pw.TextField(null=True)
    secrets_enc = pw.TextField(null=True)    # sealed {ref: value} (domain ai-proposal)
    provider = pw.TextField(null=True)
    model = pw.TextField(null=True)
    created_at = pw.TextField()
    expires_at = pw.TextField()
    decided_at = pw.TextField(null=True)
    decided_by = pw.TextField(null=True)
    result = JSONField(null=True)

    class Meta:
        table_name = "ai_proposals"


ALL_MODELS = (User, Session, LoginFailure, AuditRow, Setting, Node, NodeConfig, Event,
              TopologyPosition, Preference, AIKey, AIThread, AIMessage, AIProposal)
