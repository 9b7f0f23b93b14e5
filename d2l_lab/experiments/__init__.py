"""Experiments: each builds a config and a `Task` that the generic run loop drives."""
