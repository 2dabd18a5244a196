"""Remoting failures and the one mapping of response codes to exceptions.

Transport errors (connect, timeout) and ``MQResponseError`` for a non-success response code;
``error_for(code, remark)`` picks the subclass (aiokafka's ``for_code`` shape). Mirrors
``RemotingConnectException``, ``RemotingTimeoutException`` and ``MQBrokerException``.
"""

from __future__ import annotations

from typing import ClassVar

from pyrmq.remoting.codes import ResponseCode


class RemotingError(Exception):
    """Base of every remoting failure."""


class RemotingConnectError(RemotingError, ConnectionError):
    """Could not connect, or the connection closed while a request was in flight."""


class RemotingTimeoutError(RemotingError, TimeoutError):
    """No response within the timeout."""


class MQResponseError(RemotingError):
    """The peer answered with a non-success response code."""

    code: ClassVar[int] = -1

    def __init__(self, code: int, remark: str | None) -> None:
        super().__init__(f"code {_code_name(code)}: {remark or ''}".rstrip(": "))
        self.response_code = code
        self.remark = remark


class SystemError_(MQResponseError):
    code = ResponseCode.SYSTEM_ERROR


class SystemBusyError(MQResponseError):
    code = ResponseCode.SYSTEM_BUSY


class RequestCodeNotSupportedError(MQResponseError):
    code = ResponseCode.REQUEST_CODE_NOT_SUPPORTED


class TopicNotExistError(MQResponseError):
    code = ResponseCode.TOPIC_NOT_EXIST


class QueryNotFoundError(MQResponseError):
    code = ResponseCode.QUERY_NOT_FOUND


class NoPermissionError(MQResponseError):
    code = ResponseCode.NO_PERMISSION


def _subclasses(cls: type[MQResponseError]) -> list[type[MQResponseError]]:
    found: list[type[MQResponseError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


_BY_CODE: dict[int, type[MQResponseError]] = {cls.code: cls for cls in _subclasses(MQResponseError)}


def error_for(code: int, remark: str | None) -> MQResponseError:
    """The exception for a response code (MQResponseError itself for codes without a class)."""
    return _BY_CODE.get(code, MQResponseError)(code, remark)


def _code_name(code: int) -> str:
    try:
        return f"{ResponseCode(code).name}({code})"
    except ValueError:
        return str(code)
