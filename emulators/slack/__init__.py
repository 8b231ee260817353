from emulators.slack.delivery import (
    ActionReply,
    AppConnection,
    AppReply,
    CommandReply,
    SubmissionReply,
)
from emulators.slack.driver import SlackDriver
from emulators.slack.emulator import SlackEmulator
from emulators.slack.ratelimit import RateLimitConfig
from emulators.slack.webapi import CallRecord

__all__ = [
    "ActionReply",
    "AppConnection",
    "AppReply",
    "CallRecord",
    "CommandReply",
    "RateLimitConfig",
    "SlackDriver",
    "SlackEmulator",
    "SubmissionReply",
]
