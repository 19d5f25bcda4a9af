"""The roles a user account has (one each), and the supervisor's token until the pages use
accounts. Agent ids are `<group>-<n>`, so no agent is ever named SUPERVISOR.

What each role may do: `agent` answers calls (the agent API and socket); `supervisor`
watches and steers the floor (stats, the event stream); `planner` plans; `admin` changes
the configuration and accounts; `auditor` reads the audit trail."""

from typing import Final

SUPERVISOR: Final = "supervisor"
ROLES: Final = ("agent", "supervisor", "planner", "admin", "auditor")
