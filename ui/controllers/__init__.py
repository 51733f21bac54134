"""Litestar controllers of the reviewer UI, one module per page."""
