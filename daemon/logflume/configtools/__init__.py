"""Tools around the config models: the JSON Schema, the generated reference, and plain-words checking.

    schema.py    the JSON Schema of the whole config, from the models (``logflume config schema``)
    walk.py      following keys and error locations through that schema
    places.py    key paths as users write them, and their YAML lines
    docs.py      docs/configuration.md, rendered from the schema (``logflume config docs``)
    wording.py   pydantic's errors in plain words, with "did you mean"
    issues.py    every problem of a file in one run, with its key path and line
    secrets.py   warnings for secrets written literally into the file
    commands.py  the ``config`` subcommand

Nothing here imports :mod:`logflume.config`, which uses these modules (the commands import it when run).
"""
