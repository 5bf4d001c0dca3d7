"""The PostgreSQL sink: events, window metrics and alerts in typed tables plus ``jsonb``.

One file per concern: ``config`` (options), ``schema`` (tables, migrations, SQL), ``rows``
(event → row tuples, sanitising), ``partitions`` (daily partitions), ``classify`` (asyncpg errors
→ retry or give up) and ``sink`` (the :class:`~logflume.sinks.base.Sink` itself).
"""
