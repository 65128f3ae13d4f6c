"""Example tool modules for the configs in ``configs/``; they call no network."""
