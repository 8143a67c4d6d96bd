"""Summaries: the extractive summariser and the step that stores summaries."""
