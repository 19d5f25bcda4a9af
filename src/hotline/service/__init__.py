"""The live driver: use-case handlers fed by adapters, bootstrap, settings, wall-clock time."""
