"""The discrete-event driver: the ACD run over a scenario on a virtual clock."""
