"""Issues: plan one from stored reports, create it in the outbox, build its messages."""
