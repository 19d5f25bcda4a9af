"""Hotline: a self-hostable platform for a 24/7 multilingual telephone hotline."""

__version__ = "0.1.0"
