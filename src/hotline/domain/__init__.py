"""Plain data of the hotline: calls, agents, skills, queues, events and time. No I/O."""
