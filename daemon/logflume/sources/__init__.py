"""Sources: file discovery, identity, reading through rotation, and checkpoints."""
