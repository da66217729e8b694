"""Accounts: sign-up, name claims, passwords, sessions and the login throttle."""
