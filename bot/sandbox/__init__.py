from bot.sandbox.delivery import ActionReply, AppConnection, AppReply, CommandReply, SubmissionReply
from bot.sandbox.driver import SlackDriver
from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.ratelimit import RateLimitConfig
from bot.sandbox.webapi import CallRecord

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
