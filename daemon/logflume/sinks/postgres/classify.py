"""asyncpg and socket errors → what the runner should do about them (:class:`logflume.retry.Outcome`).

PostgreSQL reports a five-character SQLSTATE whose first two characters are its class; the class
is what decides (https://www.postgresql.org/docs/current/errcodes-appendix.html).
"""

from __future__ import annotations

import asyncio
import ssl

import asyncpg

from logflume.retry import Outcome

# Connection exception, transaction rollback (serialization, deadlock), insufficient resources
# (too many connections, disk full), operator intervention (shutdown, starting up, cancel),
# system error (I/O).
_RETRY_CLASSES = frozenset({"08", "40", "53", "57", "58", "55", "XX"})
# Invalid authorization, invalid catalog (database missing), invalid role, config file error.
_FATAL_CLASSES = frozenset({"28", "3D", "0L", "0P", "F0"})
# Data exception, integrity violation (NOT NULL), program limit (row too big).
_DATA_CLASSES = frozenset({"22", "23", "54"})
_SCHEMA_STATES = frozenset({"42P01", "42703", "3F000"})  # undefined table/column, schema


def classify(exc: BaseException) -> Outcome:
    """RETRY, FATAL (auth, permissions, a missing database), REJECT (something in the batch is
    unstorable) or SETUP_LOST (a table or the schema went missing)."""
    if isinstance(exc, asyncpg.exceptions.InvalidCachedStatementError):
        # A table was dropped and made again (or altered) under a prepared statement: asyncpg has
        # dropped the stale plan, so the same write works the next time.
        return Outcome.RETRY
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        if state in _SCHEMA_STATES:
            return Outcome.SETUP_LOST
        if state == "42501":  # insufficient privilege
            return Outcome.FATAL
        klass = state[:2]
        if klass in _RETRY_CLASSES:
            return Outcome.RETRY
        if klass in _DATA_CLASSES:
            return Outcome.REJECT
        if klass in _FATAL_CLASSES:
            return Outcome.FATAL
        # Anything else (syntax, unknown) is a bug or an incompatible server: retrying the same
        # statement cannot help.
        return Outcome.FATAL
    if isinstance(exc, asyncpg.exceptions.DataError):
        return Outcome.REJECT  # client side: a value asyncpg could not encode
    if isinstance(exc, asyncpg.ClientConfigurationError | ssl.SSLCertVerificationError):
        return Outcome.FATAL  # a bad DSN, or a server certificate the configured CA does not vouch for
    if isinstance(exc, OSError | TimeoutError | asyncio.TimeoutError | ConnectionError):
        return Outcome.RETRY
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.exceptions.InternalClientError):
        # "connection is closed", "pool is closing", outdated statement cache after a restart.
        return Outcome.RETRY
    return Outcome.FATAL


def describe(exc: BaseException) -> str:
    """A short error text with the SQLSTATE, never including connection secrets."""
    state = getattr(exc, "sqlstate", None)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__} [{state}]: {text}" if state else f"{type(exc).__name__}: {text}"
