"""Hand-offs of conversations to human teams: warm (with a summary) or cold (routing only)."""
