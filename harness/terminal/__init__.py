"""What the CLI shows in a terminal: tables that fit it, and a run's progress."""
