"""How long an apply may take, in one place: the executor's waits, the worker Lambda's timeout, the queue's
visibility timeout and how old an unfinished proposal must be before it is reconciled all follow from it.
tests/test_template.py holds template.yaml to these numbers."""

from __future__ import annotations

# Waits for an endpoint, a NAT gateway or a function update end by this (`fix --wait-timeout` changes it).
DEFAULT_WAIT_SECONDS = 600
# Applying stops this long before the Lambda's end, so that undoing what was written always has time.
UNDO_MARGIN_SECONDS = 120
# The worker's timeout: a diagnosis, the longest wait, the margin for undoing, and a diagnosis after.
WORKER_TIMEOUT_SECONDS = 900
# AWS advises at least six times the function's timeout for an SQS event source.
QUEUE_VISIBILITY_SECONDS = 6 * WORKER_TIMEOUT_SECONDS
# No apply outlives the Lambda that runs it: a proposal still approved or applying after this is stuck.
LONGEST_APPLY_SECONDS = WORKER_TIMEOUT_SECONDS + 60
