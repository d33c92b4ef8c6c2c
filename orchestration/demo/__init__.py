"""The demo district: a seeded simulator of the data providers and the demo story."""
