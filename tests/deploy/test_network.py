"""The VPC: every Lambda in private subnets without a way to the internet, AWS's services
reached through endpoints, and security groups that let exactly the needed flows through."""

from __future__ import annotations

import pytest

from tests.deploy.cloudformation import REGION, get_att
from tests.deploy.expected import LAMBDAS, SERVING_LAMBDAS

# The AWS services the code calls, reached from subnets without a way to the internet.
GATEWAY_SERVICES = ("s3", "dynamodb")
INTERFACE_SERVICES = ("sqs", "sns", "secretsmanager")
# Who must reach whom, on which port, by security group.
FLOWS = [
    ("FunctionsSecurityGroup", "ProxiesSecurityGroup", 5432),
    ("FunctionsSecurityGroup", "RedisSecurityGroup", 6379),
    ("FunctionsSecurityGroup", "EndpointsSecurityGroup", 443),
    ("ProxiesSecurityGroup", "DatabasesSecurityGroup", 5432),
]


@pytest.mark.parametrize("function_id", LAMBDAS)
def test_a_lambda_runs_in_the_private_subnets(template, function_id):
    subnets = template.of_type("AWS::EC2::Subnet")

    vpc = template.properties(function_id)["VpcConfig"]

    assert sorted(s["Ref"] for s in vpc["SubnetIds"]) == sorted(subnets)
    assert len(subnets) >= 2
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets.values())
    groups = [g["Fn::GetAtt"][0] for g in vpc["SecurityGroupIds"]]
    assert set(groups) <= set(template.of_type("AWS::EC2::SecurityGroup")), groups


@pytest.mark.parametrize("function_id", SERVING_LAMBDAS)
def test_a_serving_lambda_is_in_the_functions_security_group(template, function_id):
    vpc = template.properties(function_id)["VpcConfig"]

    assert vpc["SecurityGroupIds"] == [get_att("FunctionsSecurityGroup", "GroupId")]


def test_the_subnets_have_no_way_to_the_internet(template):
    assert template.of_type("AWS::EC2::InternetGateway") == {}
    assert template.of_type("AWS::EC2::NatGateway") == {}


def _endpoint(template, service: str) -> dict:
    (endpoint,) = [
        e["Properties"]
        for e in template.of_type("AWS::EC2::VPCEndpoint").values()
        if template.resolve(e["Properties"]["ServiceName"]) == f"com.amazonaws.{REGION}.{service}"
    ]
    return endpoint


@pytest.mark.parametrize("service", GATEWAY_SERVICES)
def test_a_gateway_endpoint_serves_every_subnets_routes(template, service):
    routes = {
        a["Properties"]["RouteTableId"]["Ref"]
        for a in template.of_type("AWS::EC2::SubnetRouteTableAssociation").values()
    }

    endpoint = _endpoint(template, service)

    assert endpoint["VpcEndpointType"] == "Gateway"
    assert routes <= {r["Ref"] for r in endpoint["RouteTableIds"]}


@pytest.mark.parametrize("service", INTERFACE_SERVICES)
def test_an_interface_endpoint_answers_in_every_subnet_under_the_services_name(template, service):
    endpoint = _endpoint(template, service)

    assert endpoint["VpcEndpointType"] == "Interface"
    assert endpoint["PrivateDnsEnabled"] is True
    assert sorted(s["Ref"] for s in endpoint["SubnetIds"]) == sorted(
        template.of_type("AWS::EC2::Subnet")
    )
    assert endpoint["SecurityGroupIds"] == [get_att("EndpointsSecurityGroup", "GroupId")]


def _rules(template, resource_type: str, inline: str, group: str) -> list[dict]:
    """A group's ingress or egress rules, standalone or inline."""
    standalone = [
        r["Properties"]
        for r in template.of_type(resource_type).values()
        if r["Properties"]["GroupId"] == get_att(group, "GroupId")
    ]
    return standalone + template.properties(group).get(inline, [])


def _covers(rule: dict, port: int) -> bool:
    return rule["IpProtocol"] in {"tcp", "-1"} and rule["FromPort"] <= port <= rule["ToPort"]


@pytest.mark.parametrize(("source", "target", "port"), FLOWS)
def test_security_groups_let_a_flow_out_and_in(template, source, target, port):
    egress = _rules(template, "AWS::EC2::SecurityGroupEgress", "SecurityGroupEgress", source)
    ingress = _rules(template, "AWS::EC2::SecurityGroupIngress", "SecurityGroupIngress", target)

    assert any(
        _covers(r, port)
        and (
            r.get("DestinationSecurityGroupId") == get_att(target, "GroupId")
            or r.get("CidrIp") == "0.0.0.0/0"
        )
        for r in egress
    ), f"{source} may not send to {target} on {port}"
    assert any(
        _covers(r, port) and r.get("SourceSecurityGroupId") == get_att(source, "GroupId")
        for r in ingress
    ), f"{target} does not admit {source} on {port}"


def test_the_data_stores_sit_in_the_groups_the_flows_name(template):
    proxies = template.of_type("AWS::RDS::DBProxy").values()
    databases = template.of_type("AWS::RDS::DBInstance").values()
    (redis,) = template.of_type("AWS::ElastiCache::ReplicationGroup").values()

    for proxy in proxies:
        groups = proxy["Properties"]["VpcSecurityGroupIds"]
        assert groups == [get_att("ProxiesSecurityGroup", "GroupId")]
    for database in databases:
        groups = database["Properties"]["VPCSecurityGroups"]
        assert groups == [get_att("DatabasesSecurityGroup", "GroupId")]
    assert redis["Properties"]["SecurityGroupIds"] == [get_att("RedisSecurityGroup", "GroupId")]
