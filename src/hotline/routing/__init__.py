"""The ACD: which agent answers which call, and when a waiting call escalates or overflows."""

from hotline.routing.engine import Router
from hotline.routing.selection import SelectionPolicy

__all__ = ["Router", "SelectionPolicy"]
