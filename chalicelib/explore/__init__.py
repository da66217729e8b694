"""Explore: recent public media ranked by recent likes."""
