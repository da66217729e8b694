"""Fan-out, timelines, the feed cache and feed rebuilds."""
