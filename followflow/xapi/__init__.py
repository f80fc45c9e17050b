"""The X API v2 client: auth, typed models, errors, paging and rate-limit state."""
