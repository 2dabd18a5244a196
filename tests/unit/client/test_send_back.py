"""The retry copy a client re-publishes itself when CONSUMER_SEND_MSG_BACK fails (§6.6)."""

from __future__ import annotations

from pyrmq.client.consumer.send_back import build_retry_message
from pyrmq.common.message import MessageExt


def failed(reconsume_times: int = 0, **props: str) -> MessageExt:
    return MessageExt(
        "T",
        b"body",
        flag=7,
        properties={"UNIQ_KEY": "U1", "TAGS": "a", "TRAN_MSG": "true", **props},
        reconsume_times=reconsume_times,
        msg_id="OFFSETID",
    )


def test_first_failure() -> None:
    copy = build_retry_message(failed(), "G", 16, 1)
    assert (copy.topic, copy.body, copy.flag) == ("%RETRY%G", b"body", 7)
    assert copy.properties == {
        "UNIQ_KEY": "U1",
        "TAGS": "a",
        "ORIGIN_MESSAGE_ID": "U1",
        "RETRY_TOPIC": "T",
        "RECONSUME_TIME": "1",
        "MAX_RECONSUME_TIMES": "16",
        "DELAY": "3",
    }  # TRAN_MSG cleared


def test_later_failures_keep_the_first_id_and_delay_more() -> None:
    msg = failed(4, ORIGIN_MESSAGE_ID="FIRST", RETRY_TOPIC="T")
    copy = build_retry_message(msg, "G", 16, 5)
    assert copy.properties["ORIGIN_MESSAGE_ID"] == "FIRST"
    assert (copy.properties["RECONSUME_TIME"], copy.properties["DELAY"]) == ("5", "7")
    no_key = MessageExt("T", b"x", msg_id="OFFSETID")
    assert build_retry_message(no_key, "G", 2, 1).properties["ORIGIN_MESSAGE_ID"] == "OFFSETID"
