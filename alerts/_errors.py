"""Alert errors, under eldercare's one tree::

EldercareError
└── AlertError
    ├── AlertStateError   a transition the lifecycle forbids (acknowledge a resolved alert)
    └── DeliveryError     a channel could not deliver (carries the subscriber and whether to retry)
"""

from __future__ import annotations

from eldercare.errors import EldercareError


class AlertError(EldercareError):
    """Base of the alert stage's errors."""


class AlertStateError(AlertError):
    def __init__(self, alert_id: int | None, state: str, action: str) -> None:
        super().__init__(f"cannot {action} alert {alert_id}: it is {state}")
        self.alert_id = alert_id
        self.state = state
        self.action = action


class DeliveryError(AlertError):
    def __init__(self, message: str, *, subscriber: str, retryable: bool = True) -> None:
        super().__init__(f"{subscriber}: {message}")
        self.subscriber = subscriber
        self.retryable = retryable
