"""/api/v1/auth/*: sign in and out, who am I, change my password."""

from __future__ import annotations

from ...services import users as user_service
from ...services.errors import ApiError
from ..base import BaseHandler


class LoginHandler(BaseHandler):
    async def post(self) -> None:
        body = self.json_body()
        user, session = await self.app.auth.login(body.get("username"), body.get("password"), self.client_ip,
                                                  self.request.headers.get("User-Agent"))
        token = self.app.auth.encode(session)
        max_age = self.app.runtime_settings.get("session_lifetime_hours") * 3600
        secure = not self.app.config.behind_proxy
        self.set_cookie("session", token, httponly=True, secure=secure, samesite="Lax", path="/", max_age=max_age)
        self.set_cookie("csrf_token", session.csrf_token, secure=secure, samesite="Lax", path="/", max_age=max_age)
        result = {"user": user_service.to_api(user), "csrf_token": session.csrf_token,
                  "expires_at": session.expires_at}
        if body.get("return_token") is True:
            result["token"] = token
        self.write_json(result)


class LogoutHandler(BaseHandler):
    async def post(self) -> None:
        self.json_body(allow_empty=True)
        await self.app.auth.logout(self.principal, self.client_ip)
        secure = not self.app.config.behind_proxy
        for name in ("session", "csrf_token"):
            # Written by hand: Tornado's set_cookie drops a Max-Age of 0, which would leave the
            # browser holding an empty session cookie instead of deleting it.
            attributes = [f'{name}=""', "Expires=Thu, 01 Jan 1970 00:00:00 GMT", "Max-Age=0", "Path=/",
                          "SameSite=Lax", *(["Secure"] if secure else []), *(["HttpOnly"] if name == "session" else [])]
            self.add_header("Set-Cookie", "; ".join(attributes))
        self.write_json({"success": True})


class MeHandler(BaseHandler):
    async def get(self) -> None:
        p = self.principal
        user = await self.app.db.read(user_service.User.get_by_id, p.user_id)
        self.write_json({
            "user": user_service.to_api(user),
            "session": {"id": p.session_id, "created_at": p.session_created_at,
                        "expires_at": p.session_expires_at, "auth": p.auth},
            "csrf_token": p.csrf_token if p.auth == "cookie" else None,
        })


class PasswordHandler(BaseHandler):
    async def post(self) -> None:
        body = self.json_body()
        unknown = [k for k in body if k not in ("current_password", "new_password")]
        if unknown:
            raise ApiError(422, "unknown_field", f"Unknown field: {unknown[0]}")
        revoked = await self.app.auth.change_password(self.principal, body.get("current_password"),
                                                      body.get("new_password"), self.client_ip)
        self.write_json({"success": True, "sessions_revoked": revoked})
