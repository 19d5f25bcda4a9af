"""Who a token is for, until accounts exist: an agent of the line (named by their id), or
the supervisor. Agent ids are `<group>-<n>`, so no agent is ever named SUPERVISOR."""

SUPERVISOR = "supervisor"
