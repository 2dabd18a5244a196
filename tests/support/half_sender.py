"""A producer process that sends one transactional (half) message and then hangs undecided.

    python -m tests.support.half_sender NAMESRV_ADDR TOPIC GROUP BODY

Prints ``sent <offsetMsgId>`` once the half message is stored; the test then kills it with
SIGKILL, so the transaction can only be decided by the broker's check-back.
"""

from __future__ import annotations

import asyncio
import sys

from pyrmq.client import LocalTransactionState, Message, MessageExt, TransactionProducer


class Undecided:
    def execute_local_transaction(self, msg: Message, arg: object) -> LocalTransactionState:
        return LocalTransactionState.UNKNOW

    def check_local_transaction(self, msg: MessageExt) -> LocalTransactionState:
        return LocalTransactionState.UNKNOW


async def main(addr: str, topic: str, group: str, body: str) -> None:
    producer = TransactionProducer(group, addr, Undecided())
    await producer.start()
    result = await producer.send_message_in_transaction(Message(topic, body.encode()))
    print(f"sent {result.offset_msg_id}", flush=True)
    await asyncio.sleep(3600)  # killed before this ends


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
