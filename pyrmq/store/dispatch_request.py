"""DispatchRequest: what one commitlog record contributes to the consume queue and the index.

Mirrors RocketMQ's ``DispatchRequest``, the result of ``CommitLog.checkMessageAndReturnSize``:
produced by one parser (``commitlog.check_record``) for both run-time dispatch and recovery,
consumed by ``ConsumeQueue.put_message_position_info`` and ``IndexService.build_index``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class DispatchRequest:
    #: record size; 0 = end-of-file BLANK (go to the next file); with success False: the bytes
    #: to skip when > 0 (a record whose fields do not add up), nothing to skip when 0 or -1.
    msg_size: int
    success: bool
    topic: str = ""
    queue_id: int = 0
    commit_log_offset: int = 0
    tags_code: int = 0
    store_timestamp: int = 0
    consume_queue_offset: int = 0
    keys: str | None = None
    uniq_key: str | None = None
    sys_flag: int = 0
    prepared_transaction_offset: int = 0
    body_crc: int = 0

    @property
    def is_blank(self) -> bool:
        return self.success and self.msg_size == 0


#: The end of readable data (or garbage): stop here.
END_OF_DATA = DispatchRequest(msg_size=-1, success=False)
