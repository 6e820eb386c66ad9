"""elmo-bench: what contextual word representations buy over static ones."""

__version__ = "0.1.0"
