"""Dataset declarations (one YAML file per dataset) and the transforms of derived datasets."""
