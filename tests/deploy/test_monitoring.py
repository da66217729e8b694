"""The dashboard and the alarms watch metrics that exist: AWS's, with dimensions naming
the stage's own resources, and Photofeed's, emitted by the code of the service named."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import pytest

from tests.deploy.cloudformation import listed, ref
from tests.deploy.expected import DEAD_LETTERS, METRICS_NAMESPACE, SERVICES

# One widget (or more) per topic the issue names: which metric, and what it must cover.
DASHBOARD_TOPICS = {
    "API latency": ("AWS/ApiGateway", {"Latency"}, "the api"),
    "API 5xx": ("AWS/ApiGateway", {"5XXError"}, "the api"),
    "feed latency": (METRICS_NAMESPACE, {"FeedLatency"}, "service api"),
    "upload to ready": (METRICS_NAMESPACE, {"UploadToReadyLag"}, "service thumbnail"),
    "upload to feed": (METRICS_NAMESPACE, {"UploadToFeedLag"}, "service fanout"),
    "fan-out size": (METRICS_NAMESPACE, {"FanoutAudience"}, "service fanout"),
    "fan-out duration": (METRICS_NAMESPACE, {"FanoutDuration"}, "service fanout"),
    "DLQ depth": ("AWS/SQS", {"ApproximateNumberOfMessagesVisible"}, "each dead-letter queue"),
    "Lambda errors": ("AWS/Lambda", {"Errors"}, "each function"),
    "Lambda throttles": ("AWS/Lambda", {"Throttles"}, "each function"),
    "Lambda duration": ("AWS/Lambda", {"Duration"}, "each function"),
    "Redis memory": (
        "AWS/ElastiCache",
        {"DatabaseMemoryUsagePercentage", "BytesUsedForCache"},
        "the redis nodes",
    ),
    "Redis evictions": ("AWS/ElastiCache", {"Evictions"}, "the redis nodes"),
    "RDS Proxy pinned connections": (
        "AWS/RDS",
        {"DatabaseConnectionsCurrentlySessionPinned"},
        "each proxy",
    ),
    "RDS Proxy borrow latency": ("AWS/RDS", {"DatabaseConnectionsBorrowLatency"}, "each proxy"),
}
_SEARCH = re.compile(r"SEARCH\(\s*'\s*\{([^}]*)\}(.*?)'\s*,")
_SEARCH_TERM = re.compile(r'(\w+)=("[^"]*"|\S+)')


@dataclass(frozen=True)
class MetricUse:
    """A metric an alarm or a dashboard line reads (a SEARCH: dimensions are its terms)."""

    where: str
    namespace: str
    name: str
    dimensions: dict[str, str] = field(default_factory=dict)
    search: bool = False


def _alarm_uses(template) -> list[MetricUse]:
    uses = []
    for logical_id, alarm in template.of_type("AWS::CloudWatch::Alarm").items():
        p = template.resolve(alarm["Properties"])
        stats = [m["MetricStat"]["Metric"] for m in p.get("Metrics", []) if "MetricStat" in m]
        for metric in [p, *stats] if "MetricName" in p else stats:
            dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            uses.append(
                MetricUse(logical_id, metric["Namespace"], metric["MetricName"], dimensions)
            )
    return uses


def _line_use(where: str, line: list, previous: list) -> MetricUse:
    """A dashboard metric line: namespace, name, dimension pairs, options ("." repeats)."""
    values = [item for item in line if not isinstance(item, dict)]
    values = [previous[i] if v == "." else v for i, v in enumerate(values)]
    pairs = values[2:]
    return MetricUse(where, values[0], values[1], dict(zip(pairs[::2], pairs[1::2], strict=True)))


def _search_uses(where: str, expression: str) -> list[MetricUse]:
    uses = []
    for schema, terms in _SEARCH.findall(expression):
        namespace = schema.split(",")[0].strip().strip('"')
        dimensions = dict(_SEARCH_TERM.findall(terms))
        name = dimensions.pop("MetricName", "").strip('"')
        uses.append(MetricUse(where, namespace, name, dimensions, search=True))
    return uses


def _dashboard_uses(template) -> list[MetricUse]:
    uses: list[MetricUse] = []
    for logical_id in template.of_type("AWS::CloudWatch::Dashboard"):
        for widget in template.dashboard_body(logical_id)["widgets"]:
            where = f"{logical_id}: {widget['properties'].get('title')}"
            previous: list = []
            for line in widget["properties"].get("metrics", []):
                if isinstance(line[0], dict):
                    uses += _search_uses(where, line[0].get("expression", ""))
                else:
                    uses.append(_line_use(where, line, previous))
                    previous = [item for item in line if not isinstance(item, dict)]
    return uses


def _resource_names(template) -> dict[str, set[str]]:
    """The values an AWS metric's dimension may take in this stage."""
    api = template.properties("RestAPI")
    return {
        "QueueName": set(template.named("AWS::SQS::Queue", "QueueName").values()),
        "FunctionName": {p["FunctionName"] for p in template.lambdas().values()},
        "ProxyName": set(template.named("AWS::RDS::DBProxy", "DBProxyName").values()),
        "DBInstanceIdentifier": set(
            template.named("AWS::RDS::DBInstance", "DBInstanceIdentifier").values()
        ),
        "ApiName": {api["Name"]},
        "Stage": {api["StageName"]},
        "service": {
            template.environment(f).get("POWERTOOLS_SERVICE_NAME") for f in template.lambdas()
        },
    }


def _alarms_on(template, namespace: str, name: str) -> list[tuple[str, dict]]:
    return [
        (logical_id, template.resolve(alarm["Properties"]))
        for logical_id, alarm in template.of_type("AWS::CloudWatch::Alarm").items()
        if (alarm["Properties"].get("Namespace"), alarm["Properties"].get("MetricName"))
        == (namespace, name)
    ]


def _dimensions(alarm: dict) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}


def _fires_above(alarm: dict, value: float) -> bool:
    """Whether the alarm fires as soon as its statistic exceeds `value`, and only then."""
    operator, threshold = alarm["ComparisonOperator"], alarm["Threshold"]
    return (operator, threshold) == ("GreaterThanThreshold", value) or (
        operator == "GreaterThanOrEqualToThreshold" and value < threshold <= value + 1
    )


# --- the dashboard


def test_the_dashboard_body_is_json_once_the_region_is_filled_in(template):
    (dashboard_id,) = template.of_type("AWS::CloudWatch::Dashboard")

    body = template.dashboard_body(dashboard_id)

    assert body["widgets"]
    assert "${" not in str(body)


def _covered(template, coverage: str) -> list[dict[str, str]]:
    """The dimensions a topic's lines must show, one set per resource it covers."""
    if coverage.startswith("service "):
        return [{"service": coverage.removeprefix("service ")}]
    if coverage == "the api":
        api = template.properties("RestAPI")
        return [{"ApiName": api["Name"], "Stage": api["StageName"]}]
    if coverage == "each dead-letter queue":
        return [{"QueueName": template.properties(dlq)["QueueName"]} for _, dlq in DEAD_LETTERS]
    if coverage == "each function":
        return [{"FunctionName": p["FunctionName"]} for p in template.lambdas().values()]
    if coverage == "each proxy":
        names = template.named("AWS::RDS::DBProxy", "DBProxyName").values()
        return [{"ProxyName": name} for name in names]
    return [{}]  # the Redis nodes: ElastiCache names them, a SEARCH finds them


@pytest.mark.parametrize("topic", DASHBOARD_TOPICS)
def test_the_dashboard_shows_a_topic(template, topic):
    namespace, names, coverage = DASHBOARD_TOPICS[topic]

    shown = [
        use.dimensions
        for use in _dashboard_uses(template)
        if use.namespace == namespace and use.name in names
    ]

    wanted = _covered(template, coverage)
    missing = [w for w in wanted if not any(w.items() <= d.items() for d in shown)]
    assert missing == [], f"no {sorted(names)} of {namespace} for {missing}"


def _search_matches(term: str, value: str) -> bool:
    """CloudWatch search's matching of one dimension term: exact when quoted, else by
    tokens (non-alphanumerics split a name into tokens)."""
    if term.startswith('"'):
        return term.strip('"') == value

    def tokens(text: str) -> list[str]:
        return [t.lower() for t in re.split(r"[^A-Za-z0-9]+", text) if t]

    wanted, found = tokens(term), tokens(value)
    return any(found[i : i + len(wanted)] == wanted for i in range(len(found)))


def test_the_redis_widgets_find_the_replication_groups_nodes(template):
    (redis_id,) = template.of_type("AWS::ElastiCache::ReplicationGroup")
    group = template.properties(redis_id)["ReplicationGroupId"]
    # ElastiCache names a cluster-mode node's cluster <group>-<shard>-<node>, and
    # publishes its metrics under that CacheClusterId.
    nodes = [f"{group}-0001-001", f"{group}-0002-002"]
    searches = [
        use
        for use in _dashboard_uses(template)
        if use.namespace == "AWS/ElastiCache" and use.search
    ]

    assert searches
    blind = [
        f"{use.where}: CacheClusterId={use.dimensions['CacheClusterId']}"
        for use in searches
        if "CacheClusterId" in use.dimensions
        and not all(_search_matches(use.dimensions["CacheClusterId"], n) for n in nodes)
    ]
    assert not blind, f"match no node of {group} (e.g. {nodes[0]}):\n" + "\n".join(blind)


# --- every metric read is one that exists


def test_aws_metrics_name_the_stages_own_resources(template):
    names = _resource_names(template)
    uses = [u for u in _alarm_uses(template) + _dashboard_uses(template) if not u.search]

    strangers = [
        f"{use.where}: {use.namespace} {use.name} {key}={value}"
        for use in uses
        for key, value in use.dimensions.items()
        if key in names and value not in names[key]
    ]

    assert strangers == []


def test_photofeed_metrics_are_read_by_service(template):
    uses = _alarm_uses(template) + _dashboard_uses(template)

    ours = [u for u in uses if u.namespace == METRICS_NAMESPACE]

    assert ours
    assert [u for u in ours if set(u.dimensions) != {"service"}] == []
    assert {u.dimensions["service"] for u in ours} <= set(SERVICES)


def _string_literals(archive) -> set[str]:
    """Every string constant in the zip's own code (app.py, chalicelib, functions)."""
    literals: set[str] = set()
    for name in archive.namelist():
        if name.endswith(".py") and (
            name == "app.py" or name.startswith(("chalicelib/", "functions/"))
        ):
            tree = ast.parse(archive.read(name))
            literals |= {
                node.value
                for node in ast.walk(tree)
                if isinstance(node, ast.Constant) and isinstance(node.value, str)
            }
    return literals


@pytest.mark.parametrize("service", SERVICES)
def test_photofeed_metrics_of_a_service_are_emitted_by_its_code(packaged, template, service):
    read = {
        use.name
        for use in _alarm_uses(template) + _dashboard_uses(template)
        if use.namespace == METRICS_NAMESPACE and use.dimensions.get("service") == service
    }
    (function_id,) = [
        f
        for f in template.lambdas()
        if template.environment(f).get("POWERTOOLS_SERVICE_NAME") == service
    ]

    with packaged.code_of(template.properties(function_id)) as archive:
        literals = _string_literals(archive)

    assert service in literals  # the service its code names its metrics after
    assert METRICS_NAMESPACE in literals
    missing = sorted(read - literals)
    assert missing == [], f"read from service={service} but never emitted by {function_id}"


# --- the alarms


def test_every_alarm_notifies_the_alarm_topic(template):
    alarms = template.of_type("AWS::CloudWatch::Alarm")

    actions = [listed(a["Properties"].get("AlarmActions", [])) for a in alarms.values()]

    assert actions
    (topic,) = actions[0]
    assert all(a == [topic] for a in actions)
    assert template.resources[topic["Ref"]]["Type"] == "AWS::SNS::Topic"
    assert topic != ref("MediaEventsTopic")


@pytest.mark.parametrize(("queue_id", "dlq_id"), DEAD_LETTERS)
def test_a_dead_letter_raises_an_alarm(template, queue_id, dlq_id):
    queue_name = template.properties(dlq_id)["QueueName"]

    alarms = [
        alarm
        for _, alarm in _alarms_on(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
        if _dimensions(alarm) == {"QueueName": queue_name}
    ]

    (alarm,) = alarms
    assert _fires_above(alarm, 0)


def test_the_api_answering_5xx_raises_an_alarm(template):
    api = template.properties("RestAPI")

    (alarm,) = [alarm for _, alarm in _alarms_on(template, "AWS/ApiGateway", "5XXError")]

    assert _dimensions(alarm) == {"ApiName": api["Name"], "Stage": api["StageName"]}
    # The average of 5XXError (0 or 1 per request) is the rate of 5xx answers.
    assert alarm["Statistic"] == "Average"
    assert 0 < alarm["Threshold"] < 1


def test_slow_fan_out_raises_an_alarm(template):
    alarms = _alarms_on(template, METRICS_NAMESPACE, "UploadToFeedLag")

    (alarm,) = [alarm for _, alarm in alarms]

    assert _dimensions(alarm) == {"service": "fanout"}
    assert alarm["ComparisonOperator"].startswith("GreaterThan")


def test_a_pinned_proxy_connection_raises_an_alarm(template):
    proxies = template.named("AWS::RDS::DBProxy", "DBProxyName").values()

    alarms = _alarms_on(template, "AWS/RDS", "DatabaseConnectionsCurrentlySessionPinned")

    assert sorted(_dimensions(a)["ProxyName"] for _, a in alarms) == sorted(proxies)
    assert all(_fires_above(alarm, 0) for _, alarm in alarms)
