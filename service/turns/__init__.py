"""Intake of an AI turn: the facts, the policy's decision, and its persistence."""
