"""eldercare core: settings, errors, database and embedded services shared by every stage."""

from eldercare.errors import (
    ConfigError,
    EldercareError,
    MigrationError,
    ServiceError,
    StorageError,
)
from eldercare.settings import MqttEndpoint, Settings, load_settings

__all__ = [
    "ConfigError",
    "EldercareError",
    "MigrationError",
    "MqttEndpoint",
    "ServiceError",
    "Settings",
    "StorageError",
    "load_settings",
]
