"""Slack listeners: plain module-level functions, one module per surface, registered by
:func:`register`. Each finds the running leadbot in ``context["runtime"]``."""

from slack_bolt import App

from bot.handlers import actions, commands, home, views


def register(app: App) -> None:
    actions.register(app)
    views.register(app)
    commands.register(app)
    home.register(app)
