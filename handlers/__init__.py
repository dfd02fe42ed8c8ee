"""Lambda entry points: thin wrappers that parse, call the core library, and report."""
