"""Semantic detection: one multilingual sentence embedding per customer message, and the heads
that read escalation signals from it (explicit request, distress, policy topics, tone)."""
