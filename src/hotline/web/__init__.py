"""The HTTP adapter: the carrier's webhooks, the agents' API, health."""
