"""The VPC: private subnets only, with endpoints for the AWS services the code calls.

Nothing here reaches the internet: there is no internet gateway and no NAT. The
functions reach S3 and DynamoDB through gateway endpoints and SQS, SNS, Secrets Manager
and X-Ray through interface endpoints; Redis and the RDS proxies are in the subnets.
Security groups allow exactly the flows in `FLOWS`.
"""

from __future__ import annotations

from deploy.cfn import Plan, Template, get_att, ref, sub, tags

SUBNETS = 3  # one per availability zone: Multi-AZ Redis and databases, spread Lambdas
VPC_CIDR = "10.42.0.0/16"
POSTGRES_PORT = 5432
REDIS_PORT = 6379
HTTPS_PORT = 443
GATEWAY_ENDPOINTS = ("s3", "dynamodb")
INTERFACE_ENDPOINTS = ("sqs", "sns", "secretsmanager", "xray")

# Security groups by role, and who may open connections to whom on which port.
GROUPS = {
    "Functions": "the API and the function Lambdas",
    "Operators": "shells of operators in the VPC (CloudShell) for migrations and shard moves",
    "Endpoints": "the interface endpoints of AWS services",
    "Proxies": "the RDS proxies",
    "Databases": "the PostgreSQL instances",
    "Redis": "the ElastiCache replication group",
}
FLOWS = (
    ("Functions", "Endpoints", HTTPS_PORT),
    ("Functions", "Proxies", POSTGRES_PORT),
    ("Functions", "Redis", REDIS_PORT),
    ("Proxies", "Databases", POSTGRES_PORT),
    ("Operators", "Endpoints", HTTPS_PORT),
    ("Operators", "Proxies", POSTGRES_PORT),
    ("Operators", "Databases", POSTGRES_PORT),
    ("Operators", "Redis", REDIS_PORT),
)


def subnet_ids() -> list[Template]:
    return [ref(f"PrivateSubnet{i}") for i in range(SUBNETS)]


def group_id(role: str) -> Template:
    return get_att(f"{role}SecurityGroup", "GroupId")


def resources(plan: Plan) -> Template:
    made: Template = {
        "Vpc": {
            "Type": "AWS::EC2::VPC",
            "Properties": {
                "CidrBlock": VPC_CIDR,
                "EnableDnsHostnames": True,  # interface endpoints' private DNS needs both
                "EnableDnsSupport": True,
                "Tags": tags(plan, Name=plan.prefix),
            },
        },
        "PrivateRouteTable": {
            "Type": "AWS::EC2::RouteTable",
            "Properties": {"VpcId": ref("Vpc"), "Tags": tags(plan, Name=f"{plan.prefix}-private")},
        },
    }
    for i in range(SUBNETS):
        made[f"PrivateSubnet{i}"] = {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": ref("Vpc"),
                "AvailabilityZone": {"Fn::Select": [i, {"Fn::GetAZs": ""}]},
                "CidrBlock": {"Fn::Select": [i, {"Fn::Cidr": [VPC_CIDR, SUBNETS, 12]}]},
                "MapPublicIpOnLaunch": False,
                "Tags": tags(plan, Name=f"{plan.prefix}-private-{i}"),
            },
        }
        made[f"PrivateSubnet{i}Routes"] = {
            "Type": "AWS::EC2::SubnetRouteTableAssociation",
            "Properties": {
                "SubnetId": ref(f"PrivateSubnet{i}"),
                "RouteTableId": ref("PrivateRouteTable"),
            },
        }
    for role, description in GROUPS.items():
        made[f"{role}SecurityGroup"] = {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": f"Photofeed {plan.stage}: {description}",
                "VpcId": ref("Vpc"),
                # Replaces the default allow-all egress: only the rules below.
                "SecurityGroupEgress": [
                    {
                        "IpProtocol": "icmp",
                        "FromPort": -1,
                        "ToPort": -1,
                        "CidrIp": "127.0.0.1/32",
                        "Description": "no egress but the rules of this template",
                    }
                ],
                "Tags": tags(plan, Name=f"{plan.prefix}-{role.lower()}"),
            },
        }
    for source, target, port in FLOWS:
        if port != HTTPS_PORT:
            made[f"{source}To{target}Egress"] = {
                "Type": "AWS::EC2::SecurityGroupEgress",
                "Properties": {
                    "GroupId": group_id(source),
                    "IpProtocol": "tcp",
                    "FromPort": port,
                    "ToPort": port,
                    "DestinationSecurityGroupId": group_id(target),
                    "Description": f"{source} to {target}",
                },
            }
        made[f"{target}From{source}Ingress"] = {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {
                "GroupId": group_id(target),
                "IpProtocol": "tcp",
                "FromPort": port,
                "ToPort": port,
                "SourceSecurityGroupId": group_id(source),
                "Description": f"{source} to {target}",
            },
        }
    for role in ("Functions", "Operators"):
        # HTTPS to AWS services: gateway endpoints (S3, DynamoDB) are reached at the
        # services' public addresses, routed through the endpoints. The VPC has no
        # internet gateway or NAT, so nothing else is reachable on 443.
        made[f"{role}HttpsEgress"] = {
            "Type": "AWS::EC2::SecurityGroupEgress",
            "Properties": {
                "GroupId": group_id(role),
                "IpProtocol": "tcp",
                "FromPort": HTTPS_PORT,
                "ToPort": HTTPS_PORT,
                "CidrIp": "0.0.0.0/0",
                "Description": f"{role} to AWS services through the VPC's endpoints",
            },
        }
    for service in GATEWAY_ENDPOINTS:
        made[f"{service.capitalize()}Endpoint"] = _endpoint(
            service, "Gateway", RouteTableIds=[ref("PrivateRouteTable")]
        )
    for service in INTERFACE_ENDPOINTS:
        made[f"{_title(service)}Endpoint"] = _endpoint(
            service,
            "Interface",
            PrivateDnsEnabled=True,
            SubnetIds=subnet_ids(),
            SecurityGroupIds=[group_id("Endpoints")],
        )
    return made


def _endpoint(service: str, kind: str, **properties: object) -> Template:
    return {
        "Type": "AWS::EC2::VPCEndpoint",
        "Properties": {
            "VpcId": ref("Vpc"),
            "VpcEndpointType": kind,
            "ServiceName": sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
            **properties,
        },
    }


def _title(service: str) -> str:
    return {"secretsmanager": "SecretsManager", "xray": "XRay"}.get(service, service.capitalize())
