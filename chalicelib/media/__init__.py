"""Upload intents, media records, renditions, likes and comments."""
