"""Worker processes: running the pipeline's jobs on every core (see :mod:`.pool`)."""
