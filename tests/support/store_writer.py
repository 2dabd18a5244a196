"""A child process for crash tests: appends to a store with SYNC_FLUSH, printing each ack.

    python -m tests.support.store_writer STORE_DIR FIRST_SEQ COUNT

Every message has KEYS=seq-<n> and body b"seq-<n>"; the line ``ack <n>`` is printed (and
flushed) only after ``put_message`` returned PUT_OK, i.e. after the group commit synced it.
The parent kills this process with SIGKILL at random moments and checks every acked message.
"""

from __future__ import annotations

import asyncio
import sys

from pyrmq.store.commitlog import MessageExtBrokerInner
from pyrmq.store.config import FlushDiskType, MessageStoreConfig
from pyrmq.store.message_store import MessageStore

TOPIC = "CrashTopic"


def store_config(root: str) -> MessageStoreConfig:
    return MessageStoreConfig(
        store_path_root_dir=root,
        mapped_file_size_commit_log=64 * 1024,
        mapped_file_size_consume_queue=100 * 20,
        flush_disk_type=FlushDiskType.SYNC_FLUSH,
        max_hash_slot_num=1000,
        max_index_num=4000,
    )


def message(seq: int) -> MessageExtBrokerInner:
    return MessageExtBrokerInner(
        topic=TOPIC,
        queue_id=seq % 4,
        body=f"seq-{seq}".encode() * 8,
        properties={"KEYS": f"seq-{seq}", "UNIQ_KEY": f"UNIQ{seq:028d}"},
        born_timestamp=1_700_000_000_000 + seq,
        born_host=("127.0.0.1", 50000),
        store_host=("127.0.0.1", 10911),
    )


async def main(root: str, first: int, count: int) -> int:
    store = MessageStore(store_config(root))
    store.load()
    await store.start()
    print("ready", flush=True)
    for seq in range(first, first + count):
        result = await store.put_message(message(seq))
        if result.ok:
            print(f"ack {seq}", flush=True)
    await store.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
