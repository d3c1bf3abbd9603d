"""The `minitx` command line: app.py parses and reports errors, training.py holds
the outline every training command shares, and gpt.py, bert.py and cache.py
hold the commands themselves."""
from .app import main

__all__ = ["main"]
