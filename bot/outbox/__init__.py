"""Outbox -> Slack, in three parts: ``queue`` (claim, lease, finish), ``render`` (a message and
the database in, what to say out) and ``slack`` (saying it, exactly once). ``bot.notifier``
runs them in a loop."""
