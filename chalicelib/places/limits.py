"""How far and how far back a place search may look (imported by routes at cold start,
so it imports nothing)."""

# The longest window a search may ask for, in days; a day key expires a day after it.
MAX_WINDOW_DAYS = 7
# How far a search may reach, in meters: a neighbourhood, not a country (each day's
# GEOSEARCH answers every media within the radius).
MAX_DISTANCE_M = 5_000
DEFAULT_DISTANCE_M = 1_000
