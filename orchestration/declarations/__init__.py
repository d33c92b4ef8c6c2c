"""Dataset and retention-policy declarations: models, loading, load-time rules, JSON Schema."""
