"""Approvals: the proposal store, the workflow by approval mode, signed links, and the approval page."""
