"""Mail: rendering templates, composing messages, links and DKIM."""
