"""The IVR: declarative call flows (YAML), their validator, prompt catalogs, and a pure
interpreter that the telephony adapter, the terminal runner and the tests all drive."""
