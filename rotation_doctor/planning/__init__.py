"""Planning: rounds of plan, simulate on the snapshot, re-diagnose, until healthy."""
