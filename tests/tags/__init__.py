"""Hashtag pages and search, on the local stack."""
