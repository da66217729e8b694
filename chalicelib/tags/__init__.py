"""Hashtags: tag pages and tag search."""
