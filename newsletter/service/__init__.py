"""The running service: its steps, and the scheduler that runs them."""
