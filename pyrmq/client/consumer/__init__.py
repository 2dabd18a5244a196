"""Consumers and their internals: push (concurrent / orderly, clustering / broadcasting), lite
pull, plain pull; offsets, process queues, rebalance, queue locks, pulling, consuming, retries."""
