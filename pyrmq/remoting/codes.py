"""Every number of the remoting protocol: request codes, response codes, languages, serialize types.

One home for these facts (protocol.md §1.8, §2). Mirrors RocketMQ's ``RequestCode``,
``ResponseCode``/``RemotingSysResponseCode``, ``LanguageCode`` and ``SerializeType``.
Imports nothing but the stdlib.
"""

from __future__ import annotations

from enum import IntEnum


class RequestCode(IntEnum):
    """Request codes (``RequestCode.java``); the comment gives direction and 4.9.x presence."""

    SEND_MESSAGE = 10  # C→B core
    PULL_MESSAGE = 11  # C→B core
    QUERY_MESSAGE = 12  # C→B core
    QUERY_BROKER_OFFSET = 13  # -
    QUERY_CONSUMER_OFFSET = 14  # C→B core
    UPDATE_CONSUMER_OFFSET = 15  # C→B core
    UPDATE_AND_CREATE_TOPIC = 17  # A→B core
    UPDATE_AND_CREATE_TOPIC_LIST = 18  # A→B 5.x (not in 4.9.x)
    GET_ALL_TOPIC_CONFIG = 21  # A/B→B core
    GET_TOPIC_CONFIG_LIST = 22  # -
    GET_TOPIC_NAME_LIST = 23  # -
    UPDATE_BROKER_CONFIG = 25  # A→B admin
    GET_BROKER_CONFIG = 26  # A→B admin
    TRIGGER_DELETE_FILES = 27  # -
    GET_BROKER_RUNTIME_INFO = 28  # A→B core
    SEARCH_OFFSET_BY_TIMESTAMP = 29  # C→B core
    GET_MAX_OFFSET = 30  # C→B core
    GET_MIN_OFFSET = 31  # C→B core
    GET_EARLIEST_MSG_STORETIME = 32  # C→B core
    VIEW_MESSAGE_BY_ID = 33  # C→B core
    HEART_BEAT = 34  # C→B core
    UNREGISTER_CLIENT = 35  # C→B core
    CONSUMER_SEND_MSG_BACK = 36  # C→B core
    END_TRANSACTION = 37  # C→B core
    GET_CONSUMER_LIST_BY_GROUP = 38  # C→B core
    CHECK_TRANSACTION_STATE = 39  # B→C core
    NOTIFY_CONSUMER_IDS_CHANGED = 40  # B→C core
    LOCK_BATCH_MQ = 41  # C→B core
    UNLOCK_BATCH_MQ = 42  # C→B core
    GET_ALL_CONSUMER_OFFSET = 43  # B→B HA
    GET_ALL_DELAY_OFFSET = 45  # B→B HA
    CHECK_CLIENT_CONFIG = 46  # C→B opt
    GET_CLIENT_CONFIG = 47  # - 5.x (not in 4.9.x)
    UPDATE_AND_CREATE_ACL_CONFIG = 50  # A→B ACL 1.0
    DELETE_ACL_CONFIG = 51  # A→B ACL 1.0
    GET_BROKER_CLUSTER_ACL_INFO = 52  # A→B ACL 1.0
    UPDATE_GLOBAL_WHITE_ADDRS_CONFIG = 53  # A→B ACL 1.0
    GET_BROKER_CLUSTER_ACL_CONFIG = 54  # A→B ACL 1.0 (not in 4.9.x)
    GET_TIMER_CHECK_POINT = 60  # B→B 5.x HA (not in 4.9.x)
    GET_TIMER_METRICS = 61  # B→B 5.x HA (not in 4.9.x)
    PUT_KV_CONFIG = 100  # A→N core
    GET_KV_CONFIG = 101  # A→N core
    DELETE_KV_CONFIG = 102  # A→N core
    REGISTER_BROKER = 103  # B→N core
    UNREGISTER_BROKER = 104  # B→N core
    GET_ROUTEINFO_BY_TOPIC = 105  # C→N core
    GET_BROKER_CLUSTER_INFO = 106  # A→N core
    UPDATE_AND_CREATE_SUBSCRIPTIONGROUP = 200  # A→B core
    GET_ALL_SUBSCRIPTIONGROUP_CONFIG = 201  # A/B→B core
    GET_TOPIC_STATS_INFO = 202  # A→B core
    GET_CONSUMER_CONNECTION_LIST = 203  # A→B core
    GET_PRODUCER_CONNECTION_LIST = 204  # A→B admin
    WIPE_WRITE_PERM_OF_BROKER = 205  # A→N admin
    GET_ALL_TOPIC_LIST_FROM_NAMESERVER = 206  # A→N core
    DELETE_SUBSCRIPTIONGROUP = 207  # A→B admin
    GET_CONSUME_STATS = 208  # A→B core
    SUSPEND_CONSUMER = 209  # -
    RESUME_CONSUMER = 210  # -
    RESET_CONSUMER_OFFSET_IN_CONSUMER = 211  # -
    RESET_CONSUMER_OFFSET_IN_BROKER = 212  # -
    ADJUST_CONSUMER_THREAD_POOL = 213  # -
    WHO_CONSUME_THE_MESSAGE = 214  # -
    DELETE_TOPIC_IN_BROKER = 215  # A→B core
    DELETE_TOPIC_IN_NAMESRV = 216  # A→N core
    REGISTER_TOPIC_IN_NAMESRV = 217  # B→N 5.x (not in 4.9.x)
    GET_KVLIST_BY_NAMESPACE = 219  # A/B→N admin
    RESET_CONSUMER_CLIENT_OFFSET = 220  # B→C admin
    GET_CONSUMER_STATUS_FROM_CLIENT = 221  # B→C admin
    INVOKE_BROKER_TO_RESET_OFFSET = 222  # A→B admin
    INVOKE_BROKER_TO_GET_CONSUMER_STATUS = 223  # A→B admin
    GET_TOPICS_BY_CLUSTER = 224  # A→N admin
    UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST = 225  # A→B 5.x (not in 4.9.x)
    QUERY_TOPIC_CONSUME_BY_WHO = 300  # A→B admin
    REGISTER_FILTER_SERVER = 301  # - obsolete
    REGISTER_MESSAGE_FILTER_CLASS = 302  # - obsolete
    QUERY_CONSUME_TIME_SPAN = 303  # A→B admin
    GET_SYSTEM_TOPIC_LIST_FROM_NS = 304  # A→N admin
    GET_SYSTEM_TOPIC_LIST_FROM_BROKER = 305  # A→B admin
    CLEAN_EXPIRED_CONSUMEQUEUE = 306  # A→B admin
    GET_CONSUMER_RUNNING_INFO = 307  # A→B→C admin
    QUERY_CORRECTION_OFFSET = 308  # A→B admin
    CONSUME_MESSAGE_DIRECTLY = 309  # A→B→C admin
    SEND_MESSAGE_V2 = 310  # C→B core
    GET_UNIT_TOPIC_LIST = 311  # A→N obsolete
    GET_HAS_UNIT_SUB_TOPIC_LIST = 312  # A→N obsolete
    GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST = 313  # A→N obsolete
    CLONE_GROUP_OFFSET = 314  # A→B admin
    VIEW_BROKER_STATS_DATA = 315  # A→B admin
    CLEAN_UNUSED_TOPIC = 316  # A→B admin
    GET_BROKER_CONSUME_STATS = 317  # A→B admin
    UPDATE_NAMESRV_CONFIG = 318  # A→N admin
    GET_NAMESRV_CONFIG = 319  # A→N admin
    SEND_BATCH_MESSAGE = 320  # C→B core
    QUERY_CONSUME_QUEUE = 321  # A→B admin
    QUERY_DATA_VERSION = 322  # B→N opt
    RESUME_CHECK_HALF_MESSAGE = 323  # A→B admin
    SEND_REPLY_MESSAGE = 324  # C→B opt
    SEND_REPLY_MESSAGE_V2 = 325  # C→B opt
    PUSH_REPLY_MESSAGE_TO_CLIENT = 326  # B→C opt
    ADD_WRITE_PERM_OF_BROKER = 327  # A→N admin
    GET_ALL_PRODUCER_INFO = 328  # A→B 5.x
    DELETE_EXPIRED_COMMITLOG = 329  # A→B 5.x
    QUERY_TOPICS_BY_CONSUMER = 343  # A→B 5.x (not in 4.9.x)
    QUERY_SUBSCRIPTION_BY_CONSUMER = 345  # A→B 5.x (not in 4.9.x)
    GET_TOPIC_CONFIG = 351  # A→B 5.x core (not in 4.9.x)
    GET_SUBSCRIPTIONGROUP_CONFIG = 352  # A→B 5.x (not in 4.9.x)
    UPDATE_AND_GET_GROUP_FORBIDDEN = 353  # A→B 5.x (not in 4.9.x)
    CHECK_ROCKSDB_CQ_WRITE_PROGRESS = 354  # A→B 5.x (not in 4.9.x)
    EXPORT_ROCKSDB_CONFIG_TO_JSON = 355  # A→B 5.x (not in 4.9.x)
    LITE_PULL_MESSAGE = 361  # C→B 5.x core (not in 4.9.x)
    RECALL_MESSAGE = 370  # C→B 5.3 (not in 4.9.x)
    QUERY_ASSIGNMENT = 400  # C→B 5.x (not in 4.9.x)
    SET_MESSAGE_REQUEST_MODE = 401  # A→B 5.x (not in 4.9.x)
    GET_ALL_MESSAGE_REQUEST_MODE = 402  # B→B 5.x (not in 4.9.x)
    UPDATE_AND_CREATE_STATIC_TOPIC = 513  # A→B 5.x (not in 4.9.x)
    GET_BROKER_MEMBER_GROUP = 901  # B→N 5.x HA (not in 4.9.x)
    ADD_BROKER = 902  # A→container 5.x (not in 4.9.x)
    REMOVE_BROKER = 903  # A→container 5.x (not in 4.9.x)
    BROKER_HEARTBEAT = 904  # B→N 5.x HA (not in 4.9.x)
    NOTIFY_MIN_BROKER_ID_CHANGE = 905  # N→B 5.x HA (not in 4.9.x)
    EXCHANGE_BROKER_HA_INFO = 906  # B→B 5.x HA (not in 4.9.x)
    GET_BROKER_HA_STATUS = 907  # A→B 5.x HA (not in 4.9.x)
    RESET_MASTER_FLUSH_OFFSET = 908  # A→B 5.x HA (not in 4.9.x)
    CONTROLLER_ALTER_SYNC_STATE_SET = 1001  # B/A→controller 5.x HA (not in 4.9.x)
    CONTROLLER_ELECT_MASTER = 1002  # B/A→controller 5.x HA (not in 4.9.x)
    CONTROLLER_REGISTER_BROKER = 1003  # B/A→controller 5.x HA (not in 4.9.x)
    CONTROLLER_GET_REPLICA_INFO = 1004  # B/A→controller 5.x HA (not in 4.9.x)
    CONTROLLER_GET_METADATA_INFO = 1005  # B/A→controller 5.x HA (not in 4.9.x)
    CONTROLLER_GET_SYNC_STATE_DATA = 1006  # B/A→controller 5.x HA (not in 4.9.x)
    GET_BROKER_EPOCH_CACHE = 1007  # A→B 5.x HA (not in 4.9.x)
    NOTIFY_BROKER_ROLE_CHANGED = 1008  # controller→B 5.x HA (not in 4.9.x)
    UPDATE_CONTROLLER_CONFIG = 1009  # B/A→controller 5.x HA (not in 4.9.x)
    GET_CONTROLLER_CONFIG = 1010  # B/A→controller 5.x HA (not in 4.9.x)
    CLEAN_BROKER_DATA = 1011  # B/A→controller 5.x HA (not in 4.9.x)
    CONTROLLER_GET_NEXT_BROKER_ID = 1012  # B/A→controller 5.x HA (not in 4.9.x)
    CONTROLLER_APPLY_BROKER_ID = 1013  # B/A→controller 5.x HA (not in 4.9.x)
    UPDATE_COLD_DATA_FLOW_CTR_CONFIG = 2001  # A→B 5.x (not in 4.9.x)
    REMOVE_COLD_DATA_FLOW_CTR_CONFIG = 2002  # A→B 5.x (not in 4.9.x)
    GET_COLD_DATA_FLOW_CTR_INFO = 2003  # A→B 5.x (not in 4.9.x)
    SET_COMMITLOG_READ_MODE = 2004  # A→B 5.x (not in 4.9.x)
    AUTH_CREATE_USER = 3001  # A→B 5.3 (not in 4.9.x)
    AUTH_UPDATE_USER = 3002  # A→B 5.3 (not in 4.9.x)
    AUTH_DELETE_USER = 3003  # A→B 5.3 (not in 4.9.x)
    AUTH_GET_USER = 3004  # A→B 5.3 (not in 4.9.x)
    AUTH_LIST_USER = 3005  # A→B 5.3 (not in 4.9.x)
    AUTH_CREATE_ACL = 3006  # A→B 5.3 (not in 4.9.x)
    AUTH_UPDATE_ACL = 3007  # A→B 5.3 (not in 4.9.x)
    AUTH_DELETE_ACL = 3008  # A→B 5.3 (not in 4.9.x)
    AUTH_GET_ACL = 3009  # A→B 5.3 (not in 4.9.x)
    AUTH_LIST_ACL = 3010  # A→B 5.3 (not in 4.9.x)
    POP_MESSAGE = 200050  # C→B 5.x (not in 4.9.x)
    ACK_MESSAGE = 200051  # C→B 5.x (not in 4.9.x)
    PEEK_MESSAGE = 200052  # C→B 5.x (not in 4.9.x)
    CHANGE_MESSAGE_INVISIBLETIME = 200053  # C→B 5.x (not in 4.9.x)
    NOTIFICATION = 200054  # C→B 5.x (not in 4.9.x)
    POLLING_INFO = 200055  # C→B 5.x (not in 4.9.x)
    POP_ROLLBACK = 200056  # C→B 5.x (not in 4.9.x)
    BATCH_ACK_MESSAGE = 200151  # C→B 5.x (not in 4.9.x)


class ResponseCode(IntEnum):
    """Response codes (``RemotingSysResponseCode.java`` 0-4 and ``ResponseCode.java``).

    209-211 carry 4.9.x's ACL names; 5.x reuses the numbers for POP and broker errors.
    """

    SUCCESS = 0
    SYSTEM_ERROR = 1
    SYSTEM_BUSY = 2
    REQUEST_CODE_NOT_SUPPORTED = 3
    TRANSACTION_FAILED = 4
    FLUSH_DISK_TIMEOUT = 10
    SLAVE_NOT_AVAILABLE = 11
    FLUSH_SLAVE_TIMEOUT = 12
    MESSAGE_ILLEGAL = 13
    SERVICE_NOT_AVAILABLE = 14
    VERSION_NOT_SUPPORTED = 15
    NO_PERMISSION = 16
    TOPIC_NOT_EXIST = 17
    TOPIC_EXIST_ALREADY = 18
    PULL_NOT_FOUND = 19
    PULL_RETRY_IMMEDIATELY = 20
    PULL_OFFSET_MOVED = 21
    QUERY_NOT_FOUND = 22
    SUBSCRIPTION_PARSE_FAILED = 23
    SUBSCRIPTION_NOT_EXIST = 24
    SUBSCRIPTION_NOT_LATEST = 25
    SUBSCRIPTION_GROUP_NOT_EXIST = 26
    FILTER_DATA_NOT_EXIST = 27
    FILTER_DATA_NOT_LATEST = 28
    INVALID_PARAMETER = 29
    TRANSACTION_SHOULD_COMMIT = 200
    TRANSACTION_SHOULD_ROLLBACK = 201
    TRANSACTION_STATE_UNKNOW = 202
    TRANSACTION_STATE_GROUP_WRONG = 203
    NO_BUYER_ID = 204
    NOT_IN_CURRENT_UNIT = 205
    CONSUMER_NOT_ONLINE = 206
    CONSUME_MSG_TIMEOUT = 207
    NO_MESSAGE = 208
    UPDATE_AND_CREATE_ACL_CONFIG_FAILED = 209
    DELETE_ACL_CONFIG_FAILED = 210
    UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED = 211
    BROKER_DISPATCH_NOT_COMPLETE = 212
    BROADCAST_CONSUMPTION = 213
    FLOW_CONTROL = 215
    NOT_LEADER_FOR_QUEUE = 501
    ILLEGAL_OPERATION = 604
    GO_AWAY = 1500


class LanguageCode(IntEnum):
    """Sender language: the enum name travels in JSON headers, the byte in ROCKETMQ headers."""

    JAVA = 0
    CPP = 1
    DOTNET = 2
    PYTHON = 3
    DELPHI = 4
    ERLANG = 5
    RUBY = 6
    OTHER = 7
    HTTP = 8
    GO = 9
    PHP = 10
    OMS = 11
    RUST = 12
    NODE_JS = 13


class SerializeType(IntEnum):
    """The high byte of the header word: how the header is encoded."""

    JSON = 0
    ROCKETMQ = 1


#: flag bit 0: the frame is a response; bit 1: the request is oneway (no response is sent).
FLAG_RESPONSE = 1
FLAG_ONEWAY = 2

#: MQVersion.Version ordinals that change protocol behaviour (protocol.md §1.7).
VERSION_V3_0_11 = 37
VERSION_V3_4_9 = 121
VERSION_V4_1_0_SNAPSHOT = 232
VERSION_V4_5_2 = 317
VERSION_V4_9_4 = 401
VERSION_V4_9_8 = 409

#: the version pyrmq puts in every request and response: "4.9.8 compatible".
CURRENT_VERSION = VERSION_V4_9_8


def request_name(code: int) -> str:
    """The request code's name for logs, or the number when unknown."""
    try:
        return RequestCode(code).name
    except ValueError:
        return str(code)
