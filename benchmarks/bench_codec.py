"""Codec micro-benchmark: decode and encode of a SEND_MESSAGE_V2 request, both header types.

Measures, on one core, how many frames per second ``decode_frame`` and ``encode`` handle for the
request a Java 4.9 producer sends (one-letter V2 ext fields, a properties string with UNIQ_KEY,
a 128-byte body), with a JSON header and with a ROCKETMQ header. Goal (issue #2): >= 120,000
decodes/s for each header type. Prints one JSON line per measurement, then a summary.

    .venv/bin/python benchmarks/bench_codec.py [--seconds 2] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from pyrmq.remoting.codes import RequestCode, SerializeType
from pyrmq.remoting.command import RemotingCommand, decode_frame, encode

GOAL_DECODES_PER_S = 120_000


def send_message_v2(serialize_type: int) -> RemotingCommand:
    """What DefaultMQProducer sends for a tagged, keyed message (ext fields as Java fills them)."""
    properties = (
        "KEYS\x01order-1\x02TAGS\x01TagA\x02WAIT\x01true\x02"
        "UNIQ_KEY\x017F00000104D21B6D35860001E2400001\x02"
    )
    return RemotingCommand(
        code=RequestCode.SEND_MESSAGE_V2,
        opaque=123456,
        language="JAVA",
        version=409,
        serialize_type=serialize_type,
        ext_fields={
            "a": "please_rename_unique_group_name",
            "b": "TopicTest",
            "c": "TBW102",
            "d": "4",
            "e": "3",
            "f": "0",
            "g": "1700000000000",
            "h": "0",
            "i": properties,
            "j": "0",
            "k": "false",
            "m": "false",
            "n": "broker-a",
        },
        body=b"x" * 128,
    )


def rate(fn: Callable[[], Any], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` (batched to keep timer cost out)."""
    batch = 1000
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn()
        done += batch
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)


def measure(seconds: float, repeat: int) -> list[dict[str, Any]]:
    results = []
    for name, stype in (("JSON", SerializeType.JSON), ("ROCKETMQ", SerializeType.ROCKETMQ)):
        cmd = send_message_v2(stype)
        frame = encode(cmd)
        assert decode_frame(frame) == cmd
        cases: dict[str, Callable[[], Any]] = {
            "decode": lambda frame=frame: decode_frame(frame),
            "encode": lambda cmd=cmd: encode(cmd),
            "decode+encode": lambda frame=frame: encode(decode_frame(frame)),
        }
        if stype == SerializeType.JSON:
            # The reference point of the goal: the stdlib parsing this header alone.
            header = frame[8 : 8 + (int.from_bytes(frame[4:8], "big") & 0xFFFFFF)]
            cases["stdlib json.loads of the header"] = lambda header=header: json.loads(header)
        for op, fn in cases.items():
            best = max(rate(fn, seconds) for _ in range(repeat))
            results.append(
                {
                    "bench": "codec",
                    "request": "SEND_MESSAGE_V2",
                    "header": name,
                    "op": op,
                    "frame_bytes": len(frame),
                    "per_s": round(best),
                    "python": platform.python_version(),
                }
            )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one measurement")
    parser.add_argument("--repeat", type=int, default=5, help="measurements per case (best kept)")
    args = parser.parse_args()
    results = measure(args.seconds, args.repeat)
    for row in results:
        print(json.dumps(row))
    print()
    print(f"{'header':<10}{'op':<34}{'per second':>12}")
    ok = True
    for row in results:
        print(f"{row['header']:<10}{row['op']:<34}{row['per_s']:>12,}")
        if row["op"] == "decode" and row["per_s"] < GOAL_DECODES_PER_S:
            ok = False
    verdict = "met" if ok else "NOT met"
    print(f"goal: >= {GOAL_DECODES_PER_S:,} decodes/s per header type: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
