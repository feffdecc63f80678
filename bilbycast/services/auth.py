"""Sign-in, server-side sessions and who-is-calling (api.md §2, product.md §9.4).

A session is a database row; the JWT only names it (jti) and its user (sub). Role, is_active,
expiry and allowlist are read from the database on every request, so a demotion or a
deactivation bites at once.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt

from ..db.database import Database
from ..db.models import LoginFailure, Session, User
from ..timeutil import iso, now_iso, parse_rfc3339, utcnow
from . import audit
from .audit import Actor
from .errors import ApiError
from .passwords import PasswordHasher
from .ratelimit import SlidingWindow
from .settings import Settings

ISSUER = "bilbycast-manager"
JWT_LEEWAY_SECS = 30


@dataclass(frozen=True)
class Principal:
    """The caller of one request, as the database says right now."""

    user_id: str
    username: str
    display_name: str
    role: str
    allowed_node_ids: list[str] | None
    session_id: str
    csrf_token: str
    session_created_at: str
    session_expires_at: str
    auth: str  # "cookie" or "bearer"
    must_change_password: bool = False

    def actor(self, ip: str | None) -> Actor:
        return Actor(self.user_id, self.username, ip)


class AuthService:
    def __init__(self, db: Database, settings: Settings, jwt_secret: bytes, hasher: PasswordHasher,
                 cpu_pool: Executor):
        self.db = db
        self.settings = settings
        self._jwt_secret = jwt_secret
        self.hasher = hasher
        self._cpu = cpu_pool
        self.ip_attempts = SlidingWindow()
        self.login_failures_total = 0

    # -- tokens ----------------------------------------------------------------------------
    def encode(self, session: Session) -> str:
        created = parse_rfc3339(session.created_at)
        expires = parse_rfc3339(session.expires_at)
        claims = {"iss": ISSUER, "sub": session.user_id, "jti": session.id,
                  "iat": int(created.timestamp()), "exp": int(expires.timestamp())}
        return jwt.encode(claims, self._jwt_secret, algorithm="HS256")

    def decode(self, token: str) -> dict[str, Any] | None:
        try:
            return jwt.decode(token, self._jwt_secret, algorithms=["HS256"], issuer=ISSUER,
                              leeway=JWT_LEEWAY_SECS,
                              options={"require": ["iss", "sub", "jti", "iat", "exp"]})
        except jwt.PyJWTError:
            return None

    async def principal_for(self, token: str, auth: str) -> Principal | None:
        claims = self.decode(token)
        if claims is None:
            return None
        return await self.db.read(_load_principal, str(claims["jti"]), str(claims["sub"]), auth)

    # -- passwords -------------------------------------------------------------------------
    async def hash_password(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._cpu, self.hasher.hash, password)

    async def verify_password(self, phc: str | None, password: str) -> bool:
        loop = asyncio.get_running_loop()
        if phc is None:
            await loop.run_in_executor(self._cpu, self.hasher.verify_dummy, password)
            return False
        return await loop.run_in_executor(self._cpu, self.hasher.verify, phc, password)

    # -- login -----------------------------------------------------------------------------
    async def login(self, username: Any, password: Any, ip: str, user_agent: str | None) -> tuple[User, Session]:
        if not isinstance(username, str) or not isinstance(password, str):
            raise ApiError(422, "validation_failed", "username and password must be strings",
                           fields=[{"path": "/username", "message": "required string"},
                                   {"path": "/password", "message": "required string"}])
        s = self.settings
        retry = self.ip_attempts.hit(ip, s.get("login_ip_max_attempts"), s.get("login_ip_window_secs"))
        if retry is not None:
            raise ApiError(429, "rate_limited", f"Too many login attempts from this address; try again in {int(retry)} s",
                           retry_after_secs=int(retry))
        name_lower = username.lower()
        locked_for = await self.db.read(_locked_for_secs, name_lower)
        if locked_for:
            raise ApiError(429, "account_locked", "This account is locked after repeated failures",
                           retry_after_secs=locked_for)
        if len(username) > 64 or len(password) > 128:
            raise ApiError(401, "invalid_credentials", "Invalid username or password")
        user = await self.db.read(_user_by_name, name_lower)
        ok = await self.verify_password(user.password_hash if user else None, password)
        actor = Actor(user.id if user else None, user.username if user else username[:64], ip)
        if not ok:
            self.login_failures_total += 1
            await self.db.write(_note_failure, name_lower, actor, s.get("login_account_max_failures"),
                                s.get("login_account_lockout_minutes"))
            raise ApiError(401, "invalid_credentials", "Invalid username or password")
        if not user.is_active:
            await self.db.write(audit.record, actor, "auth.login_failed", result="failure",
                                error_code="account_disabled", details={"username": username})
            raise ApiError(403, "account_disabled", "This account is disabled")
        if user.expires_at and user.expires_at <= now_iso():
            await self.db.write(audit.record, actor, "auth.login_failed", result="failure",
                                error_code="account_expired", details={"username": username})
            raise ApiError(403, "account_expired", "This account has expired")
        new_hash = await self.hash_password(password) if self.hasher.needs_rehash(user.password_hash) else None
        lifetime = s.get("session_lifetime_hours")
        session = await self.db.write(_open_session, user.id, lifetime, ip, user_agent, new_hash, actor)
        return await self.db.read(User.get_by_id, user.id), session

    # -- sessions --------------------------------------------------------------------------
    async def logout(self, principal: Principal, ip: str) -> None:
        await self.db.write(_logout, principal.session_id, principal.actor(ip))

    async def change_password(self, principal: Principal, current: Any, new: Any, ip: str) -> int:
        from .passwords import password_policy_errors

        if not isinstance(current, str) or not isinstance(new, str):
            raise ApiError(422, "validation_failed", "current_password and new_password must be strings")
        user = await self.db.read(User.get_by_id, principal.user_id)
        if not await self.verify_password(user.password_hash, current):
            await self.db.write(_note_failure, user.username_lower, principal.actor(ip),
                                self.settings.get("login_account_max_failures"),
                                self.settings.get("login_account_lockout_minutes"), "auth.password_change")
            raise ApiError(422, "current_password_incorrect", "The current password is not correct")
        problems = password_policy_errors(new, user.username)
        if new == current:
            problems.append("must differ from the current password")
        if problems:
            raise ApiError(422, "validation_failed", "New password: " + "; ".join(problems),
                           fields=[{"path": "/new_password", "message": p} for p in problems])
        new_hash = await self.hash_password(new)
        return await self.db.write(_set_own_password, principal, new_hash, principal.actor(ip))


# -- database work (runs in the reader pool or the writer thread) --------------------------

def _load_principal(session_id: str, user_id: str, auth: str) -> Principal | None:
    now = now_iso()
    row = (Session.select(Session, User).join(User)
           .where((Session.id == session_id) & (Session.user == user_id)).first())
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    user = row.user
    if not user.is_active or (user.expires_at and user.expires_at <= now):
        return None
    return Principal(user.id, user.username, user.display_name, user.role, user.allowed_node_ids,
                     row.id, row.csrf_token, row.created_at, row.expires_at, auth, user.must_change_password)


def _user_by_name(name_lower: str) -> User | None:
    return User.get_or_none(User.username_lower == name_lower)


def _locked_for_secs(name_lower: str) -> int:
    row = LoginFailure.get_or_none(LoginFailure.name_lower == name_lower)
    if row is None or not row.locked_until:
        return 0
    remaining = (parse_rfc3339(row.locked_until) - utcnow()).total_seconds()
    return max(0, int(remaining) + 1) if remaining > 0 else 0


def _note_failure(name_lower: str, actor: Actor, max_failures: int, lockout_minutes: int,
                  audit_action: str = "auth.login_failed") -> None:
    row = LoginFailure.get_or_none(LoginFailure.name_lower == name_lower)
    failures = (row.failures if row else 0) + 1
    locked_until = None
    if failures >= max_failures:
        locked_until = iso(utcnow() + timedelta(minutes=lockout_minutes))
    LoginFailure.replace(name_lower=name_lower, failures=0 if locked_until else failures,
                         locked_until=locked_until, updated_at=now_iso()).execute()
    audit.record(actor, audit_action, result="failure", error_code="invalid_credentials",
                 target_type="user", target_id=actor.user_id, details={"username": actor.username})
    if locked_until:
        audit.record(actor, "auth.lockout", result="failure", target_type="user", target_id=actor.user_id,
                     details={"username": actor.username, "locked_until": locked_until})


def _open_session(user_id: str, lifetime_hours: int, ip: str, user_agent: str | None,
                  new_hash: str | None, actor: Actor) -> Session:
    now = utcnow()
    session = Session.create(
        id=str(uuid.uuid4()), user=user_id, created_at=iso(now),
        expires_at=iso(now + timedelta(hours=lifetime_hours)), csrf_token=secrets.token_hex(16),
        client_ip=ip, user_agent=(user_agent or "")[:512],
    )
    changes: dict[str, Any] = {User.last_login_at: iso(now)}
    if new_hash:
        changes[User.password_hash] = new_hash
    User.update(changes).where(User.id == user_id).execute()
    user = User.get_by_id(user_id)
    LoginFailure.delete().where(LoginFailure.name_lower == user.username_lower).execute()
    audit.record(actor, "auth.login", target_type="user", target_id=user_id, details={"session_id": session.id})
    return session


def _logout(session_id: str, actor: Actor) -> None:
    Session.update(revoked_at=now_iso()).where((Session.id == session_id) & Session.revoked_at.is_null()).execute()
    audit.record(actor, "auth.logout", target_type="user", target_id=actor.user_id)


def revoke_user_sessions(user_id: str, except_session: str | None = None) -> int:
    query = Session.update(revoked_at=now_iso()).where((Session.user == user_id) & Session.revoked_at.is_null())
    if except_session:
        query = query.where(Session.id != except_session)
    return query.execute()


def _set_own_password(principal: Principal, new_hash: str, actor: Actor) -> int:
    User.update(password_hash=new_hash, must_change_password=False, updated_at=now_iso()).where(
        User.id == principal.user_id).execute()
    revoked = revoke_user_sessions(principal.user_id, except_session=principal.session_id)
    audit.record(actor, "auth.password_change", target_type="user", target_id=principal.user_id,
                 details={"sessions_revoked": revoked})
    return revoked


def prune_sessions() -> int:
    """Maintenance: drop expired and long-revoked sessions and stale login-failure rows."""
    now = now_iso()
    week_ago = iso(utcnow() - timedelta(days=7))
    removed = Session.delete().where((Session.expires_at <= now) | (Session.revoked_at <= week_ago)).execute()
    LoginFailure.delete().where(LoginFailure.updated_at <= week_ago).execute()
    return removed
