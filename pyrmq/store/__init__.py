"""The broker's message store: commitlog, consume queues, index, checkpoint, recovery."""
