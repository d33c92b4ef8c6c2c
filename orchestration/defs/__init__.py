"""The Dagster wiring: thin definitions built from the declarations in one place."""
