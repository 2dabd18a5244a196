"""A real writer process with SYNC_FLUSH killed by SIGKILL at random moments, several times.

After each kill the store is recovered (abnormally: the abort file is left behind) and every put
the child had acknowledged must be there, once, readable through its consume queue and its
index key. The next cycle's writer continues on the same store.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyrmq.common.message_codec import decode_stored_message
from pyrmq.store.message_store import MessageStore
from pyrmq.store.results import GetMessageStatus
from tests.support.store_writer import TOPIC, store_config
from tests.support.vectors import REPO

CYCLES = 6
PER_CYCLE_MAX = 5000


def run_writer_and_kill(root: Path, first: int, rng: random.Random) -> set[int]:
    """Start a writer, kill -9 it after a random delay; the seqs it acknowledged."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.store_writer",
            str(root),
            str(first),
            str(PER_CYCLE_MAX),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.strip() == "ready", ready + (proc.stderr.read() if proc.stderr else "")
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return {int(line.split()[1]) for line in out.splitlines() if line.startswith("ack ")}


async def stored_seqs(root: Path) -> tuple[list[int], bool]:
    """Recover the store in-process; the seqs readable through the consume queues."""
    store = MessageStore(store_config(str(root)))
    store.load()
    abnormal = not store.last_exit_ok
    await store.start()
    try:
        seqs = []
        for queue_id in range(4):
            offset = 0
            while True:
                result = store.get_message("g", TOPIC, queue_id, offset, 32)
                assert result is not None
                if result.status is not GetMessageStatus.FOUND:
                    break
                for record in result.messages:
                    msg, _ = decode_stored_message(record, check_crc=True)
                    seqs.append(int(msg.properties["KEYS"].split("-")[1]))
                offset = result.next_begin_offset
                result.release()
        return seqs, abnormal
    finally:
        await store.shutdown()


@pytest.mark.cluster
async def test_every_acknowledged_put_survives_kill_9(tmp_path: Path) -> None:
    rng = random.Random(20261129)
    acked: set[int] = set()
    next_seq = 0
    for _ in range(CYCLES):
        acked |= run_writer_and_kill(tmp_path, next_seq, rng)
        seqs, abnormal = await stored_seqs(tmp_path)
        assert abnormal  # the killed writer left its abort file
        assert len(seqs) == len(set(seqs)), "a message is readable at two positions"
        missing = acked - set(seqs)
        assert not missing, f"{len(missing)} acknowledged puts lost, e.g. {sorted(missing)[:5]}"
        next_seq = max(seqs, default=-1) + 1
        next_seq = max(next_seq, max(acked, default=-1) + 1)
    assert len(acked) > 100  # the writers really wrote between the kills


@pytest.mark.cluster
async def test_acknowledged_keys_are_found_by_index_after_kill(tmp_path: Path) -> None:
    rng = random.Random(7)
    acked = run_writer_and_kill(tmp_path, 0, rng)
    store = MessageStore(store_config(str(tmp_path)))
    store.load()
    await store.start()
    try:
        for seq in sorted(acked)[:: max(1, len(acked) // 50)]:
            records = store.query_message(TOPIC, f"seq-{seq}", 32, 0, 2**62)
            keys = [decode_stored_message(r)[0].properties["KEYS"] for r in records]
            assert f"seq-{seq}" in keys
            for record in records:
                record.release()
    finally:
        await store.shutdown()
