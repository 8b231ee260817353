"""Fill an emulated workspace with the people and channels a workspace config names."""

from __future__ import annotations

from core.config import WorkspaceConfig
from emulators.slack.emulator import SlackEmulator


def seed_from_config(emulator: SlackEmulator, config: WorkspaceConfig) -> None:
    """One user per Slack ID in the config (in their team's time zone) and one channel per
    team plus marketing, with those people as members. Safe to call twice."""
    people: dict[str, tuple[str, str]] = {}
    for member in config.marketing.members:
        people.setdefault(member, ("marketing", "UTC"))
    for team in config.teams:
        for rep in team.reps:
            people.setdefault(rep, (f"{team.name} rep", team.timezone))
        for manager in team.managers:
            people.setdefault(manager, (f"{team.name} manager", team.timezone))
    known = set(emulator.workspace.users)
    for user_id, (role, zone) in people.items():
        if user_id not in known:
            emulator.add_user(
                user_id,
                name=user_id.lower(),
                real_name=f"{user_id} ({role})",
                tz=zone,
                email=f"{user_id.lower()}@sandbox.example",
            )
    channels = set(emulator.workspace.channels)
    if config.marketing.channel not in channels:
        emulator.add_channel(
            config.marketing.channel, name="marketing", members=list(config.marketing.members)
        )
    for team in config.teams:
        if team.channel not in channels:
            emulator.add_channel(
                team.channel, name=f"leads-{team.name}", members=[*team.reps, *team.managers]
            )
