"""A HubSpot CRM account on a loopback port, for the sandbox, the tests and the benchmarks."""

from emulators.hubspot.api import ALL_SCOPES, ROUTES, CallRecord, Fault, RateLimits
from emulators.hubspot.emulator import DEFAULT_TOKEN, HubSpotEmulator, ManualClock
from emulators.hubspot.model import LIFECYCLE_STAGES

__all__ = [
    "ALL_SCOPES",
    "DEFAULT_TOKEN",
    "LIFECYCLE_STAGES",
    "ROUTES",
    "CallRecord",
    "Fault",
    "HubSpotEmulator",
    "ManualClock",
    "RateLimits",
]
