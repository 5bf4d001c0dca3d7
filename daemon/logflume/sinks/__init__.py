"""Sinks: the sink protocol, the shared runner (batching, retry, acknowledgement) and backends."""
