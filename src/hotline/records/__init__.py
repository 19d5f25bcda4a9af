"""Record look-ups: the connector port and connectors, disclosure policy, audit chain."""
