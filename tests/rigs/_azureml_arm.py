"""What every part of the fake Azure ML shares: ARM errors (answered as ``{"error": {"code", "message"}}``)."""

from __future__ import annotations


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message
        super().__init__(message)
