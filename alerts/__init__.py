"""Alerts: one alert per problem from detector findings (lifecycle; escalation, delivery next)."""

from alerts._lifecycle import Alert, AlertState, apply_finding
from alerts._service import AlertService, process_pending

__all__ = ["Alert", "AlertService", "AlertState", "apply_finding", "process_pending"]
