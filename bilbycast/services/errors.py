"""The one error type services raise; handlers turn it into api.md §1.3 JSON bodies."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error with an HTTP status, a stable `code` and optional extra body keys."""

    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = {k: v for k, v in extra.items() if v is not None}
        self.headers: dict[str, str] = {}
        if "retry_after_secs" in self.extra:
            self.headers["Retry-After"] = str(int(self.extra["retry_after_secs"]))

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "code": self.code, **self.extra}


def validation_failed(message: str, fields: list[dict[str, str]] | None = None) -> ApiError:
    return ApiError(422, "validation_failed", message, fields=fields)


def not_found(what: str = "Resource") -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")
