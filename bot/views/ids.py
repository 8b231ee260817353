"""Every action_id, callback_id and block_id the bot uses, in one place."""

ACCEPT = "lead_accept"
REJECT = "lead_reject"
REJECT_VIEW = "lead_reject_submit"
REJECT_REASON = "reason"
REJECT_COMMENT = "comment"

#: Message metadata event types (so the bot can recognise its own messages in history).
METADATA_PREFIX = "leadbot_"
