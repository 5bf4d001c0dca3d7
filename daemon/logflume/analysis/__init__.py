"""``logflume analyze`` and ``logflume query``: statistics and searches over stored logs.

inputs      INPUT arguments → local JSON-lines files (files, globs, .gz, s3://, postgresql://)
engine      DuckDB scan and the statistics' SQL
report      table / JSON / CSV output
plot        the --plot PNG
query       the query command's reader and output, on the filter stage's condition language
mapped      --preset: raw gateway logs mapped onto the canonical fields with the daemon's mapping
commands    the commands' arguments and runners (registered in ``logflume.cli.registry``)
"""
