"""The local stack: real PostgreSQL, Redis and moto, the API and the event pump.

Never deployed. `python -m devstack run|up|down` (the Makefile calls these).
"""
