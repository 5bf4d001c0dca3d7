"""The S3 sink: gzip NDJSON objects under Hive-style keys, in S3 or an S3-compatible store.

One file per concern: ``config`` (options), ``keys`` (object keys, batch ids), ``encode``
(NDJSON + gzip, split by size), ``classify`` (botocore errors → retry or give up), ``upload``
(single-request and multipart uploads) and ``sink`` (the Sink itself).
"""
