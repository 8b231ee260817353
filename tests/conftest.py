pytest_plugins = ["bot.sandbox.pytest_plugin"]
