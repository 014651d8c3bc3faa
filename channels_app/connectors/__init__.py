"""Chat-platform connectors: one package per platform kind (see ``base``)."""
