"""IDs, the shard map, routing, connections, migrations and shard moves."""
