"""The data every layer shares: the snapshot of an account, findings and their evidence, plans, states, errors."""
