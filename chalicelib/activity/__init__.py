"""The activity feed: likes and comments on my media, followers, follow requests and
approvals, newest first."""
