"""newsletter: offline, multilingual alert and digest mailer for humanitarian reports."""

__version__ = "0.1.0"
