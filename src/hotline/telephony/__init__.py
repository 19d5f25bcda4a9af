"""Telephony adapters: speech rendering now; the carrier webhooks, call control and the
carrier emulator come with the live server."""
