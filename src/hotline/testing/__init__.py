"""Fakes we ship and use in tests (DESIGN.md): in-memory stand-ins for the real adapters."""
