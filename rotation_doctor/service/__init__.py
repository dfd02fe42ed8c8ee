"""The event-driven service: EventBridge events to triggers, and one batch of them handled once per secret."""
