"""Push notifications: devices registered as SNS platform endpoints, muted kinds, and the
pushes sent (by functions/notify) after likes, comments, follows and follow requests."""
