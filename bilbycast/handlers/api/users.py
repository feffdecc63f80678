"""/api/v1/users: thin adapters over services.users."""

from __future__ import annotations

from ...db.models import User
from ...services import users as user_service
from ...services.errors import ApiError, not_found
from ..base import BaseHandler


class UsersHandler(BaseHandler):
    async def get(self) -> None:
        rows = await self.app.db.read(lambda: list(User.select().order_by(User.username_lower)))
        caller = self.principal
        if caller.allowed_node_ids is not None:
            allowed = set(caller.allowed_node_ids)
            rows = [u for u in rows if u.allowed_node_ids is not None and set(u.allowed_node_ids) <= allowed]
        self.write_json([user_service.to_api(u) for u in rows])

    async def post(self) -> None:
        values = user_service.validate_fields(self.json_body(), creating=True)
        user_service.check_create(self.principal, values)
        password_hash = await self.app.auth.hash_password(values["password"])
        user = await self.app.db.write(user_service.create_row, values, password_hash, self.actor())
        self.write_json(user_service.to_api(user), 201)


class UserHandler(BaseHandler):
    async def get(self, user_id: str) -> None:
        user = await self.app.db.read(User.get_or_none, User.id == user_id)
        if user is None:
            raise not_found("User")
        if not user_service.visible_to(self.principal, user):
            raise ApiError(403, "forbidden", "You can only read your own account")
        self.write_json(user_service.to_api(user))

    async def put(self, user_id: str) -> None:
        values = user_service.validate_fields(self.json_body(), creating=False)
        password_hash = await self.app.auth.hash_password(values.pop("password")) if "password" in values else None
        user = await self.app.db.write(user_service.update_row, self.principal, user_id, values, password_hash,
                                       self.actor())
        self.app.on_user_changed(user.id)
        self.write_json(user_service.to_api(user))

    async def delete(self, user_id: str) -> None:
        await self.app.db.write(user_service.delete_row, self.principal, user_id, self.actor())
        self.app.on_user_changed(user_id)
        self.no_content()
