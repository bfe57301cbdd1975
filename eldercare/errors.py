"""Errors raised by eldercare, one tree so callers can catch what they can handle::

EldercareError
├── ConfigError        settings or command-line input that cannot work; says what to fix
├── StorageError       the database refused or is unreachable
│   └── MigrationError a migration file failed; names the file
└── ServiceError       an embedded service (PostgreSQL, broker) could not start
"""

from __future__ import annotations


class EldercareError(Exception):
    """Base of every error eldercare raises on purpose."""


class ConfigError(EldercareError):
    """Configuration that cannot work."""


class StorageError(EldercareError):
    """The database refused an operation or cannot be reached."""


class MigrationError(StorageError):
    """A migration failed."""


class ServiceError(EldercareError):
    """An embedded service could not be started or stopped."""
