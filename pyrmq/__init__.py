"""pyrmq: a pure-Python reimplementation of Apache RocketMQ 4.9."""

__version__ = "0.1.0"
