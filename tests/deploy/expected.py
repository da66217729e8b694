"""What the stage must be made of, as the issue states it (not as deploy/ builds it)."""

from __future__ import annotations

from deploy.functions import FUNCTIONS

# Every Lambda of the stage: the API (from `chalice package`) and the function Lambdas.
LAMBDAS = ("APIHandler", *(f.logical_id for f in FUNCTIONS))
# The Lambdas that serve users, in the Functions security group.
SERVING_LAMBDAS = ("APIHandler", "ThumbnailFunction", "FanoutFunction", "NotifyFunction")
# Which function consumes which queue, and where each queue's dead letters go.
CONSUMERS = [
    ("ThumbnailFunction", "UploadsQueue"),
    ("FanoutFunction", "FanoutQueue"),
    ("NotifyFunction", "NotificationsQueue"),
]
DEAD_LETTERS = [
    ("UploadsQueue", "UploadsDeadLetterQueue"),
    ("FanoutQueue", "FanoutDeadLetterQueue"),
    ("NotificationsQueue", "NotificationsDeadLetterQueue"),
]
TABLES = ("ShardMapTable", "NameClaimsTable", "SessionsTable", "IdempotencyTable")
# API Gateway gives up on an integration after 29 s.
API_GATEWAY_TIMEOUT_SECONDS = 29
# Photofeed's own metrics: Powertools EMF, this namespace, one dimension `service`.
METRICS_NAMESPACE = "Photofeed"
SERVICES = ("api", "thumbnail", "fanout", "notify")
