"""Telling people: one message model, rendered for each channel (SNS e-mail/JSON, Slack Block Kit)."""
