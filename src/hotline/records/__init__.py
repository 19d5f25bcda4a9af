"""Record connectors, disclosure policy and the tamper-evident audit trail."""
