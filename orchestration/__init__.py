"""city-steward: governed, versioned, encrypted datasets for the Takanawa Gateway district."""
