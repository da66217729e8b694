"""The stage's CloudWatch dashboard and alarms, and the topic alarms notify.

Photofeed's own metrics are Powertools EMF metrics in the `Photofeed` namespace with one
dimension, `service` (api, thumbnail, fanout); the rest are AWS's (API Gateway, Lambda,
SQS, ElastiCache, RDS Proxy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chalicelib.observability import METRICS_NAMESPACE
from deploy.cfn import Plan, Template, ref, sub
from deploy.datastores import proxy_name
from deploy.functions import FUNCTIONS

API_STAGE = "api"  # .chalice/config.json's api_gateway_stage for every AWS stage
ALARM_PERIOD_SECONDS = 60
SQS_PERIOD_SECONDS = 300  # SQS publishes every five minutes
# A media should be in followers' feeds within a minute of its upload.
FANOUT_LAG_SECONDS = 60
# ...and a fan-out message should not wait in its queue for five.
FANOUT_QUEUE_AGE_SECONDS = 300
API_5XX_RATE = 0.01

PARAMETERS: Template = {
    "AlarmEmail": {
        "Type": "String",
        "Default": "",
        "Description": "Where alarms are e-mailed (empty: subscribe to the topic yourself)",
    },
}
CONDITIONS: Template = {"HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [ref("AlarmEmail"), ""]}]}}


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: dict[str, str] = field(default_factory=dict)

    def cfn_dimensions(self) -> list[dict[str, str]]:
        return [{"Name": k, "Value": v} for k, v in self.dimensions.items()]

    def widget(self, stat: str, label: str | None = None) -> list[Any]:
        """A metric line of a dashboard widget."""
        line: list[Any] = [self.namespace, self.name]
        for key, value in self.dimensions.items():
            line += [key, value]
        return [*line, {"stat": stat, "label": label or f"{self.name} {stat}"}]


def ours(service: str, name: str) -> Metric:
    """One of Photofeed's own metrics, emitted by `service`."""
    return Metric(METRICS_NAMESPACE, name, {"service": service})


def api_metric(plan: Plan, name: str) -> Metric:
    return Metric("AWS/ApiGateway", name, {"ApiName": plan.prefix, "Stage": API_STAGE})


def lambda_metric(plan: Plan, role: str, name: str) -> Metric:
    return Metric("AWS/Lambda", name, {"FunctionName": plan.function_name(role)})


def queue_metric(plan: Plan, queue: str, name: str) -> Metric:
    return Metric("AWS/SQS", name, {"QueueName": f"{plan.prefix}-{queue}"})


def proxy_metric(plan: Plan, database: str, name: str) -> Metric:
    return Metric("AWS/RDS", name, {"ProxyName": proxy_name(plan, database)})


@dataclass(frozen=True)
class Alarm:
    logical_id: str
    description: str
    metric: Metric
    statistic: str  # Sum, Average, Maximum or a percentile (p90)
    threshold: float
    period: int = ALARM_PERIOD_SECONDS
    evaluation_periods: int = 1
    datapoints: int = 1

    def resource(self, plan: Plan) -> Template:
        properties: dict[str, Any] = {
            "AlarmName": f"{plan.prefix}-{self.logical_id.removesuffix('Alarm')}",
            "AlarmDescription": f"{self.description} (docs/operations.md#alarms)",
            "Namespace": self.metric.namespace,
            "MetricName": self.metric.name,
            "Dimensions": self.metric.cfn_dimensions(),
            "Period": self.period,
            "EvaluationPeriods": self.evaluation_periods,
            "DatapointsToAlarm": self.datapoints,
            "Threshold": self.threshold,
            "ComparisonOperator": "GreaterThanThreshold",
            # No data is no traffic (or no dead letters): healthy.
            "TreatMissingData": "notBreaching",
            "AlarmActions": [ref("AlarmTopic")],
            "OKActions": [ref("AlarmTopic")],
        }
        if self.statistic.startswith("p"):
            properties["ExtendedStatistic"] = self.statistic
        else:
            properties["Statistic"] = self.statistic
        return {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}


def alarms(plan: Plan) -> list[Alarm]:
    made = [
        Alarm(
            f"{queue.capitalize()}DeadLettersAlarm",
            f"Messages in the {queue} dead-letter queue",
            queue_metric(plan, f"{queue}-dlq", "ApproximateNumberOfMessagesVisible"),
            "Maximum",
            0,
            period=SQS_PERIOD_SECONDS,
        )
        for queue in ("uploads", "fanout", "notifications")
    ]
    made += [
        Alarm(
            "Api5xxRateAlarm",
            f"More than {API_5XX_RATE:.0%} of API requests answered 5xx",
            api_metric(plan, "5XXError"),
            "Average",
            API_5XX_RATE,
            evaluation_periods=5,
            datapoints=3,
        ),
        Alarm(
            "FanoutLagAlarm",
            f"Media reach feeds more than {FANOUT_LAG_SECONDS} s after upload (p90)",
            ours("fanout", "UploadToFeedLag"),
            "p90",
            FANOUT_LAG_SECONDS,
            evaluation_periods=5,
            datapoints=3,
        ),
        Alarm(
            "FanoutQueueAgeAlarm",
            f"A fan-out message waited more than {FANOUT_QUEUE_AGE_SECONDS} s",
            queue_metric(plan, "fanout", "ApproximateAgeOfOldestMessage"),
            "Maximum",
            FANOUT_QUEUE_AGE_SECONDS,
            period=SQS_PERIOD_SECONDS,
        ),
    ]
    made += [
        Alarm(
            f"{Plan.database_id(name)}PinnedConnectionsAlarm",
            f"Client connections pinned by RDS Proxy on {name}",
            proxy_metric(plan, name, "DatabaseConnectionsCurrentlySessionPinned"),
            "Maximum",
            0,
        )
        for name in plan.databases
    ]
    made += [
        Alarm(
            f"{role.capitalize()}ErrorsAlarm",
            f"The {role} Lambda failed invocations",
            lambda_metric(plan, role, "Errors"),
            "Sum",
            5,
            period=300,
        )
        # The operators' Lambda answers its failures to the operator instead.
        for role in ("api", *(f.role for f in FUNCTIONS if f.queue))
    ]
    return made


def _graph(title: str, lines: list[list[Any]], width: int = 8, **extra: Any) -> Template:
    return {
        "type": "metric",
        "width": width,
        "height": 6,
        "properties": {
            "title": title,
            "region": "${AWS::Region}",
            "view": "timeSeries",
            "stacked": False,
            "period": 60,
            "metrics": lines,
            **extra,
        },
    }


def _search(title: str, expression: str, width: int = 8) -> Template:
    return _graph(title, [[{"expression": expression, "id": "e1", "label": ""}]], width)


def _redis_search(plan: Plan, name: str, stat: str) -> str:
    """Every node of the replication group: their IDs (`photofeed-dev-0001-001`) are made
    by ElastiCache, so the name is matched by its words, not quoted as a whole."""
    return (
        f'SEARCH(\'{{AWS/ElastiCache,CacheClusterId,CacheNodeId}} MetricName="{name}" '
        f"CacheClusterId={plan.prefix}', '{stat}', 60)"
    )


def dashboard_widgets(plan: Plan) -> list[Template]:
    roles = ("api", *(f.role for f in FUNCTIONS))
    return [
        _graph(
            "API latency (ms)",
            [api_metric(plan, "Latency").widget(s) for s in ("p50", "p99")],
        ),
        _graph(
            "API errors",
            [api_metric(plan, n).widget("Sum") for n in ("5XXError", "4XXError", "Count")],
        ),
        _graph(
            "Feed latency (ms)",
            [ours("api", "FeedLatency").widget(s) for s in ("p50", "p99")]
            + [ours("api", "FeedShed").widget("Sum")],
        ),
        _graph(
            "Upload to ready (s)",
            [ours("thumbnail", "UploadToReadyLag").widget(s) for s in ("p50", "p99")],
        ),
        _graph(
            "Upload to feed (s)",
            [ours("fanout", "UploadToFeedLag").widget(s) for s in ("p50", "p90", "p99")],
            annotations={"horizontal": [{"label": "alarm", "value": FANOUT_LAG_SECONDS}]},
        ),
        _graph(
            "Fan-out size",
            [
                ours("fanout", "FanoutAudience").widget("Maximum"),
                ours("fanout", "FanoutAudience").widget("Average"),
                ours("fanout", "FanoutPushes").widget("Sum"),
            ],
        ),
        _graph(
            "Fan-out duration (ms)",
            [ours("fanout", "FanoutDuration").widget(s) for s in ("p50", "p99", "Maximum")],
        ),
        _graph(
            "Push notifications",
            [
                ours("notify", n).widget("Sum")
                for n in ("Notifications", "NotificationsPushed", "DevicesDisabled")
            ],
        ),
        _graph(
            "Queues: waiting messages",
            [
                queue_metric(plan, q, "ApproximateNumberOfMessagesVisible").widget("Maximum", q)
                for q in ("uploads", "fanout", "notifications")
            ],
        ),
        _graph(
            "Dead-letter queues",
            [
                queue_metric(plan, q, "ApproximateNumberOfMessagesVisible").widget("Maximum", q)
                for q in ("uploads-dlq", "fanout-dlq", "notifications-dlq")
            ],
        ),
        _graph(
            "Lambda errors",
            [lambda_metric(plan, r, "Errors").widget("Sum", r) for r in roles],
        ),
        _graph(
            "Lambda throttles",
            [lambda_metric(plan, r, "Throttles").widget("Sum", r) for r in roles],
        ),
        _graph(
            "Lambda duration p99 (ms)",
            [lambda_metric(plan, r, "Duration").widget("p99", r) for r in roles],
        ),
        _search(
            "Redis memory used (%)",
            _redis_search(plan, "DatabaseMemoryUsagePercentage", "Maximum"),
        ),
        _search("Redis evictions", _redis_search(plan, "Evictions", "Sum")),
        _search(
            "Redis engine CPU (%)",
            _redis_search(plan, "EngineCPUUtilization", "Maximum"),
        ),
        _graph(
            "RDS Proxy pinned connections",
            [
                proxy_metric(plan, d, "DatabaseConnectionsCurrentlySessionPinned").widget(
                    "Maximum", d
                )
                for d in plan.databases
            ],
        ),
        _graph(
            "RDS Proxy borrow latency (µs)",
            [
                proxy_metric(plan, d, "DatabaseConnectionsBorrowLatency").widget("p99", d)
                for d in plan.databases
            ],
        ),
        _graph(
            "Database CPU (%)",
            [
                Metric(
                    "AWS/RDS", "CPUUtilization", {"DBInstanceIdentifier": f"{plan.prefix}-{d}"}
                ).widget("Maximum", d)
                for d in plan.databases
            ],
        ),
    ]


def resources(plan: Plan) -> Template:
    made: Template = {
        "AlarmTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": f"{plan.prefix}-alarms"},
        },
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlarmEmail",
            "Properties": {
                "TopicArn": ref("AlarmTopic"),
                "Protocol": "email",
                "Endpoint": ref("AlarmEmail"),
            },
        },
        "Dashboard": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {
                "DashboardName": plan.prefix,
                "DashboardBody": sub(json.dumps({"widgets": dashboard_widgets(plan)})),
            },
        },
    }
    for alarm in alarms(plan):
        made[alarm.logical_id] = alarm.resource(plan)
    return made
