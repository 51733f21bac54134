"""Thin JSON controllers: parse, authorise, call a use-case inside one transaction, dispatch."""
