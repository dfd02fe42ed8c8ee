"""Applying plans: the one executor that writes, and the guardrails it checks first."""
