"""Job functions, one module per concern."""
