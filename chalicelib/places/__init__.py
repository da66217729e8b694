"""Places: recent public media near a point."""
