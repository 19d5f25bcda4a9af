"""The HTTP/JSON connector: a record system's REST API reached with httpx."""

from hotline.records.http.connector import HttpConnector, HttpSecrets
from hotline.records.http.settings import HttpOperation, HttpSettings

__all__ = ["HttpConnector", "HttpOperation", "HttpSecrets", "HttpSettings"]
