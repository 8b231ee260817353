"""A Salesforce org over HTTPS for tests, benchmarks and the sandbox."""

from emulators.salesforce.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SalesforceEmulator,
)

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "SalesforceEmulator"]
