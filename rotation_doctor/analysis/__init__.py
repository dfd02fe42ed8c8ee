"""Diagnosis: pure functions from a `Snapshot` to findings and a verdict. No AWS calls here."""

from rotation_doctor.analysis.diagnosis import Diagnosis, diagnose, wants_logs

__all__ = ["Diagnosis", "diagnose", "wants_logs"]
