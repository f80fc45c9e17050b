"""Campaign planning from snapshot diffs: filters, budgets, pacing."""
