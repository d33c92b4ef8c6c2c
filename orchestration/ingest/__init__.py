"""Reading provider deliveries from the landing area."""
