"""What operators need from inside the service: health of every dependency."""
