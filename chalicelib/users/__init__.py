"""Users: profiles, their counters and whether they are active."""
