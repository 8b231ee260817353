"""slack-manifest.yml creates an app that can do everything the bot does."""

from pathlib import Path

import yaml

MANIFEST = yaml.safe_load((Path(__file__).resolve().parents[2] / "slack-manifest.yml").read_text())

#: Web API methods the bot calls, and the bot scope each needs (per Slack's method docs).
NEEDS = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.history": "channels:history",
    "conversations.replies": "channels:history",
    "conversations.open": "im:write",
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "users.profile.get": "users.profile:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}


def test_every_method_has_its_scope():
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    missing = {method: scope for method, scope in NEEDS.items() if scope not in scopes}
    assert missing == {}
    assert "commands" in scopes


def test_command_events_and_interactivity_point_at_the_slack_endpoint():
    features, settings = MANIFEST["features"], MANIFEST["settings"]
    assert [c["command"] for c in features["slash_commands"]] == ["/lead"]
    urls = {
        features["slash_commands"][0]["url"],
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
    }
    assert len(urls) == 1 and urls.pop().endswith("/slack/events")
    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]
    assert settings["interactivity"]["is_enabled"] and features["app_home"]["home_tab_enabled"]
