"""Reading the packaged SAM template: resources by type, references, and intrinsic
functions evaluated with made-up but well-formed values (an account, a region, ARNs,
endpoints), so that what a Lambda would receive can be checked as the code reads it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
PSEUDO_PARAMETERS = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::StackName": "photofeed-stack",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}
CLOUDFRONT_ID = "E2EXAMPLE1234"
CLOUDFRONT_DOMAIN = "d111111abcdef8.cloudfront.net"
# ${Name} or ${Name.Attribute} in an Fn::Sub string; ${!Literal} is no variable.
_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")

Intrinsic = dict[str, Any]


def ref(logical_id: str) -> Intrinsic:
    return {"Ref": logical_id}


def get_att(logical_id: str, attribute: str) -> Intrinsic:
    return {"Fn::GetAtt": [logical_id, attribute]}


def listed(value: Any) -> list[Any]:
    """IAM's "one or many": a statement's Action or Resource as a list."""
    return value if isinstance(value, list) else [value]


def sub_variables(text: str) -> list[str]:
    """The variables an Fn::Sub string names (`Queue`, `Redis.Endpoint.Address`)."""
    return _SUB_VARIABLE.findall(text)


def references(value: Any) -> Iterator[str]:
    """Every logical ID or parameter that `value` names, through Ref, GetAtt or Sub."""
    if isinstance(value, list):
        for item in value:
            yield from references(item)
        return
    if not isinstance(value, dict):
        return
    if set(value) == {"Ref"}:
        yield value["Ref"]
    elif set(value) == {"Fn::GetAtt"}:
        target = value["Fn::GetAtt"]
        yield target[0] if isinstance(target, list) else target.split(".", 1)[0]
    elif set(value) == {"Fn::Sub"}:
        argument = value["Fn::Sub"]
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        for name in sub_variables(text):
            if name not in variables:
                yield name.split(".", 1)[0]
        yield from references(list(variables.values()))
    else:
        for item in value.values():
            yield from references(item)


class PackagedTemplate:
    """sam.json as `make package` writes it."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.resources: dict[str, dict[str, Any]] = body["Resources"]
        self.parameters: dict[str, dict[str, Any]] = body.get("Parameters", {})

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """The resources of one type, by logical ID."""
        return {k: r for k, r in self.resources.items() if r["Type"] == resource_type}

    def properties(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id].get("Properties", {})

    def lambdas(self) -> dict[str, dict[str, Any]]:
        """Every function's properties, by logical ID (the API's is APIHandler)."""
        return {k: r["Properties"] for k, r in self.of_type("AWS::Serverless::Function").items()}

    def environment(self, logical_id: str) -> dict[str, Any]:
        return self.properties(logical_id).get("Environment", {}).get("Variables", {})

    def named(self, resource_type: str, name_property: str) -> dict[str, str]:
        """The physical names given to resources of one type, by logical ID."""
        return {k: r["Properties"][name_property] for k, r in self.of_type(resource_type).items()}

    def role_statements(self, role_id: str) -> list[dict[str, Any]]:
        """Every statement of a role's inline policies."""
        return [
            statement
            for policy in self.properties(role_id).get("Policies", [])
            for statement in listed(policy["PolicyDocument"]["Statement"])
        ]

    def role_of(self, function_id: str) -> str:
        """The logical ID of the IAM role a function runs as (GetAtt Role.Arn)."""
        role = self.properties(function_id)["Role"]
        assert set(role) == {"Fn::GetAtt"}, role
        role_id, attribute = role["Fn::GetAtt"]
        assert attribute == "Arn", role
        return role_id

    def granted(self, role_id: str, action: str) -> list[Any]:
        """What a role's Allow statements let it do `action` on (unresolved)."""
        return [
            resource
            for statement in self.role_statements(role_id)
            if statement["Effect"] == "Allow" and action in listed(statement["Action"])
            for resource in listed(statement["Resource"])
        ]

    # --- intrinsic functions, evaluated with made-up values

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function evaluated (see the module's docstring)."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Ref", "Fn::")):
            return {key: self.resolve(item) for key, item in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self._ref(argument)
        if function == "Fn::GetAtt":
            target = argument if isinstance(argument, list) else argument.split(".", 1)
            return self._get_att(target[0], target[1])
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            return self._sub(text, {k: self.resolve(v) for k, v in variables.items()})
        if function == "Fn::Join":
            separator, items = argument
            return separator.join(self.resolve(items))
        if function == "Fn::Split":
            separator, text = argument
            return self.resolve(text).split(separator)
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if function == "Fn::If":
            condition, when_true, when_false = argument
            return self.resolve(when_true if self._condition(condition) else when_false)
        if function == "Fn::GetAZs":
            return [f"{REGION}{zone}" for zone in "abcdef"]
        if function == "Fn::Cidr":
            return [f"10.0.{i}.0/24" for i in range(int(self.resolve(argument[1])))]
        raise NotImplementedError(function)

    def _condition(self, name: str) -> bool:
        """A condition of the template's, evaluated with the parameters' defaults."""
        return self._holds(self.body["Conditions"][name])

    def _holds(self, condition: Any) -> bool:
        ((function, argument),) = condition.items()
        if function == "Fn::Not":
            return not self._holds(argument[0])
        if function == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return left == right
        if function == "Condition":
            return self._condition(argument)
        raise NotImplementedError(function)

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and name not in PSEUDO_PARAMETERS:
                logical_id, attribute = name.split(".", 1)
                return str(self._get_att(logical_id, attribute))
            return str(self._ref(name))

        return _SUB_VARIABLE.sub(value, text).replace("${!", "${")

    def _ref(self, name: str) -> Any:
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            return self.parameters[name].get("Default")
        resource_type = self.resources[name]["Type"]
        p = self.properties(name)
        by_type = {
            "AWS::SQS::Queue": lambda: (
                f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/" + p["QueueName"]
            ),
            "AWS::SNS::Topic": lambda: f"arn:aws:sns:{REGION}:{ACCOUNT}:{p['TopicName']}",
            "AWS::S3::Bucket": lambda: p["BucketName"],
            "AWS::DynamoDB::Table": lambda: p["TableName"],
            "AWS::SecretsManager::Secret": lambda: (
                f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{p['Name']}-AbCdEf"
            ),
            "AWS::RDS::DBInstance": lambda: p["DBInstanceIdentifier"],
            "AWS::RDS::DBProxy": lambda: p["DBProxyName"],
            "AWS::CloudFront::Distribution": lambda: CLOUDFRONT_ID,
        }
        made = by_type.get(resource_type)
        return made() if made else f"{name.lower()}-id"

    def _get_att(self, name: str, attribute: str) -> Any:
        resource_type = self.resources[name]["Type"]
        p = self.properties(name)
        if attribute == "Arn" and resource_type == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{p['QueueName']}"
        if attribute == "Arn" and resource_type == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{p['TableName']}"
        if attribute == "DBProxyArn":
            return f"arn:aws:rds:{REGION}:{ACCOUNT}:db-proxy:prx-{name.lower()}"
        if resource_type == "AWS::RDS::DBProxy" and attribute == "Endpoint":
            return f"{p['DBProxyName']}.proxy-c0ffee.{REGION}.rds.amazonaws.com"
        if resource_type == "AWS::RDS::DBInstance" and attribute == "Endpoint.Address":
            return f"{p['DBInstanceIdentifier']}.c0ffee.{REGION}.rds.amazonaws.com"
        if attribute.endswith("Port"):
            return str(p.get("Port", 5432))
        if attribute == "ConfigurationEndPoint.Address":
            return f"clustercfg.{p['ReplicationGroupId']}.c0ffee.use1.cache.amazonaws.com"
        if resource_type == "AWS::CloudFront::Distribution" and attribute == "DomainName":
            return CLOUDFRONT_DOMAIN
        if attribute == "RegionalDomainName":
            return f"{p['BucketName']}.s3.{REGION}.amazonaws.com"
        return f"{name.lower()}-{attribute.lower().replace('.', '-')}"

    def dashboard_body(self, logical_id: str = "Dashboard") -> dict[str, Any]:
        """A dashboard's body as CloudWatch reads it once the region is filled in."""
        body = self.properties(logical_id)["DashboardBody"]
        text = body["Fn::Sub"] if isinstance(body, dict) else body
        return json.loads(text.replace("${AWS::Region}", REGION))
