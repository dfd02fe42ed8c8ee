"""The only layer that reads AWS: batched reads, failures kept as facts, snapshots out."""
