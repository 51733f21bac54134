"""Replaying conversations through policies: rebuilt state, the live engine, and a comparison."""
