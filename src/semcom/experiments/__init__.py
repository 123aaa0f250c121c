"""Experiments: one module per reproduced table or figure, each a ``run(config) -> Results``."""
