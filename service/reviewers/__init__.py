"""Reviewers: accounts, teams, roles, personal tokens and sessions."""
