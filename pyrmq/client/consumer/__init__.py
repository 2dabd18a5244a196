"""Push consumer internals: offsets, process queues, rebalance, pulling and consuming."""
