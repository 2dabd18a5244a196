"""DLedger: a Raft-replicated commitlog (openmessaging/dledger, RocketMQ's DLedgerCommitLog)."""
