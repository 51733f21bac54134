"""hitl: decides on every AI turn whether the draft is sent, reviewed by a person, or transferred."""
