"""The escalation policy: loading, validating and applying it to every AI turn."""
