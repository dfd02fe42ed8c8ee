"""The command line: argument parsing and exit statuses, text rendering, and the demo."""
