"""Workforce planning: Erlang formulas, staffing, forecasts, shifts and surge plans."""
