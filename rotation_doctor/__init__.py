"""rotation-doctor: finds and fixes the network reasons a Lambda-rotated Secrets Manager secret cannot rotate.

Layers, lowest first (tests/test_layers.py holds them): model, netsem, analysis, collect, examine,
remediations (top level), planning, apply, approvals, notify, service, simulated, handlers (top level), cli.
"""
