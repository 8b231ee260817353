"""pytest fixtures for the Slack emulator."""
