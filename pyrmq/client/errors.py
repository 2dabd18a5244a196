"""Client-side failures that are not a single broker answer (mirrors ``MQClientException``).

Broker answers keep their ``pyrmq.remoting.errors`` classes (``MQResponseError`` and
subclasses) and transport failures their ``RemotingError`` classes; this module adds what only
the client decides: bad arguments, no route, "every attempt failed".
"""

from __future__ import annotations

__all__ = ["MQClientError"]


class MQClientError(Exception):
    """A client operation failed; ``response_code`` is the last broker code, if any."""

    def __init__(self, message: str, response_code: int | None = None) -> None:
        super().__init__(message)
        self.response_code = response_code
