"""The SQL connector: fixed, read-only SELECTs on a record system's database (SQLAlchemy)."""

from hotline.records.sql.connector import SqlConnector
from hotline.records.sql.settings import SqlOperation, SqlSettings

__all__ = ["SqlConnector", "SqlOperation", "SqlSettings"]
