"""An example third-party plugin package for ast."""
