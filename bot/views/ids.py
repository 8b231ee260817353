"""Every action_id, callback_id and block_id the bot uses, in one place."""

ACCEPT = "lead_accept"
REJECT = "lead_reject"
REJECT_VIEW = "lead_reject_submit"
REJECT_REASON = "reason"
REJECT_COMMENT = "comment"

#: Message metadata event types (so the bot can recognise its own messages in history).
METADATA_PREFIX = "leadbot_"

# Buttons that act on one lead; the button's value is the lead id. Handlers in bot/handlers/.
ASSIGN = "lead_assign"  # opens the assign modal (managers)
QUALIFY = "lead_qualify"  # opens the BANT modal
OPPORTUNITY = "lead_opportunity"  # opens the opportunity modal
NURTURE = "lead_nurture"  # sends the lead to nurture (owner or manager)
SNOOZE = "lead_snooze"  # moves the lead's next reminder by one business day

# Modals (callback_id); their inputs use the same string for block_id and action_id.
BANT_VIEW = "lead_bant_submit"
OPPORTUNITY_VIEW = "lead_opportunity_submit"
ASSIGN_VIEW = "lead_assign_submit"
