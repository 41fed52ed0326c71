"""The config: a typed schema (schema.py), YAML reading and --set overrides (loader.py)."""
