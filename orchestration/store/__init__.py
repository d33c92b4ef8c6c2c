"""The versioned, encrypted object store: backends, envelope encryption, key store, versions."""
