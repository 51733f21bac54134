"""The review queue: held drafts, their leases, reviewer actions and budget expiry."""
