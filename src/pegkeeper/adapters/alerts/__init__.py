"""Alert sinks: a webhook (Slack, Discord, Telegram or plain JSON), and the log."""
