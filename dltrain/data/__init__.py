"""Datasets: each loads its arrays by name (registry.py); split.py splits and scales them the same way."""
