"""Keys of Java's NettyServerConfig/NettyClientConfig that tune threads, buffers and Netty.

They appear in RocketMQ configuration files (NameServer and broker alike). An asyncio server has
nothing they could tune, so pyrmq accepts them without effect; this is their one home.
"""

from __future__ import annotations

NETTY_SERVER_TUNING_KEYS: frozenset[str] = frozenset(
    {
        "serverWorkerThreads",
        "serverCallbackExecutorThreads",
        "serverSelectorThreads",
        "serverOnewaySemaphoreValue",
        "serverAsyncSemaphoreValue",
        "serverSocketSndBufSize",
        "serverSocketRcvBufSize",
        "writeBufferHighWaterMark",
        "writeBufferLowWaterMark",
        "serverSocketBacklog",
        "serverPooledByteBufAllocatorEnable",
        "useEpollNativeSelector",
    }
)

NETTY_CLIENT_TUNING_KEYS: frozenset[str] = frozenset(
    {
        "clientWorkerThreads",
        "clientCallbackExecutorThreads",
        "clientOnewaySemaphoreValue",
        "clientAsyncSemaphoreValue",
        "connectTimeoutMillis",
        "channelNotActiveInterval",
        "clientChannelMaxIdleTimeSeconds",
        "clientSocketSndBufSize",
        "clientSocketRcvBufSize",
        "clientPooledByteBufAllocatorEnable",
        "clientCloseSocketIfTimeout",
        "useTLS",
    }
)
