"""Classic (4.9-style) master/slave HA: commitlog replication over plain TCP (store.md §6).

``codec`` is the sans-IO wire format, ``master.HAService`` the master's listener and SYNC gate,
``slave.HAClient`` the slave's replicator.
"""
