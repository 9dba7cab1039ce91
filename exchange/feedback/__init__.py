"""Feedback (好差评): citizens rate the data side of a service item that was handled for them,
and consumer departments rate a provider's data quality (docs/scorecards.md)."""
