"""Plugins bundled with ast, registered through entry points like any third-party plugin."""
