"""A carrier emulator: behaves towards Hotline as a Twilio-compatible carrier does (signed
webhooks, TwiML executed with the carrier's timing, the REST subset Hotline calls), with
scripted callers, and agent bots that use the agents' API as a browser would."""
