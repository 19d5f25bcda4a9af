"""A line's switchboard: typed commands in, typed events and effects out, over the
router and the IVR (pure: no I/O, no wall clock). The simulator and the live server drive
the same one."""
