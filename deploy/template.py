"""The template merged into `chalice package`'s: everything of a stage but the API itself.

`merge_template(plan)` is what `chalice package --merge-template` takes: new resources,
plus properties added to the ones Chalice generates (APIHandler, RestAPI, DefaultRole).
"""

from __future__ import annotations

from chalicelib.resources import bucket_arn, service_resources
from deploy import datastores, functions, monitoring, network
from deploy.cfn import Plan, Template, get_att, ref, sub
from deploy.monitoring import API_STAGE

# CloudFront's managed "CachingOptimized" policy: no cookies, headers or query strings
# in the key, long TTLs: what immutable renditions want.
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
# Per-route throttles on top of the stage's: the routes that hash passwords.
ROUTE_THROTTLES = {("/accounts", "POST"): (20, 40), ("/sessions", "POST"): (50, 100)}

PARAMETERS: Template = {
    "ApiRateLimit": {
        "Type": "Number",
        "Default": 1000,
        "MinValue": 1,
        "Description": "Requests per second the API accepts in steady state",
    },
    "ApiBurstLimit": {
        "Type": "Number",
        "Default": 2000,
        "MinValue": 1,
        "Description": "Requests the API accepts in a burst",
    },
}


def cdn_resources(plan: Plan) -> Template:
    """CloudFront in front of the bucket, allowed to read renditions and nothing else."""
    renditions = f"{bucket_arn(plan.prefix)}/renditions/*"
    return {
        "CdnOriginAccess": {
            "Type": "AWS::CloudFront::OriginAccessControl",
            "Properties": {
                "OriginAccessControlConfig": {
                    "Name": f"{plan.prefix}-renditions",
                    "Description": "CloudFront signs its reads of renditions",
                    "OriginAccessControlOriginType": "s3",
                    "SigningBehavior": "always",
                    "SigningProtocol": "sigv4",
                }
            },
        },
        "Cdn": {
            "Type": "AWS::CloudFront::Distribution",
            "Properties": {
                "DistributionConfig": {
                    "Enabled": True,
                    "Comment": f"Photofeed {plan.stage}: renditions",
                    "HttpVersion": "http2and3",
                    "IPV6Enabled": True,
                    "PriceClass": "PriceClass_100",
                    "Origins": [
                        {
                            "Id": "photos",
                            "DomainName": get_att("PhotosBucket", "RegionalDomainName"),
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                            "OriginAccessControlId": get_att("CdnOriginAccess", "Id"),
                        }
                    ],
                    "DefaultCacheBehavior": {
                        "TargetOriginId": "photos",
                        "ViewerProtocolPolicy": "redirect-to-https",
                        "AllowedMethods": ["GET", "HEAD"],
                        "CachedMethods": ["GET", "HEAD"],
                        "Compress": False,  # JPEG and WebP are compressed already
                        "CachePolicyId": CACHING_OPTIMIZED,
                    },
                }
            },
        },
        "PhotosBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref("PhotosBucket"),
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            # Only this distribution, only renditions: originals (with
                            # their GPS tags) are never readable through the CDN.
                            "Sid": "CdnReadsRenditions",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudfront.amazonaws.com"},
                            "Action": "s3:GetObject",
                            "Resource": renditions,
                            "Condition": {
                                "StringEquals": {
                                    "AWS:SourceArn": sub(
                                        "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}"
                                        ":distribution/${Cdn}"
                                    )
                                }
                            },
                        },
                        {
                            "Sid": "TlsOnly",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [bucket_arn(plan.prefix), f"{bucket_arn(plan.prefix)}/*"],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                    ],
                },
            },
        },
    }


def _method_path(path: str) -> str:
    """API Gateway's spelling of a resource path in method settings: / as ~1."""
    return "/" + path.replace("/", "~1")


def api_gateway_overrides(plan: Plan) -> Template:
    throttles = [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": ref("ApiRateLimit"),
            "ThrottlingBurstLimit": ref("ApiBurstLimit"),
        }
    ]
    throttles += [
        {
            "ResourcePath": _method_path(path),
            "HttpMethod": method,
            "ThrottlingRateLimit": rate,
            "ThrottlingBurstLimit": burst,
        }
        for (path, method), (rate, burst) in ROUTE_THROTTLES.items()
    ]
    return {
        "RestAPI": {
            "Properties": {
                "Name": plan.prefix,
                "StageName": API_STAGE,
                "TracingEnabled": True,
                "MethodSettings": throttles,
            }
        }
    }


def outputs(plan: Plan) -> Template:
    values: Template = {
        "CdnDomain": get_att("Cdn", "DomainName"),
        "PhotosBucketName": ref("PhotosBucket"),
        "UploadsQueueUrl": ref("UploadsQueue"),
        "UploadsDeadLetterQueueUrl": ref("UploadsDeadLetterQueue"),
        "FanoutQueueUrl": ref("FanoutQueue"),
        "FanoutDeadLetterQueueUrl": ref("FanoutDeadLetterQueue"),
        "RedisEndpoint": get_att("Redis", "ConfigurationEndPoint.Address"),
        "RedisAuthSecretArn": ref("RedisAuthSecret"),
        "OperatorsSecurityGroup": network.group_id("Operators"),
        "PrivateSubnets": {"Fn::Join": [",", network.subnet_ids()]},
        "Dashboard": sub(
            "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home"
            f"?region=${{AWS::Region}}#dashboards:name={plan.prefix}"
        ),
    }
    for name in plan.databases:
        stem = Plan.database_id(name)
        values[f"{stem}ProxyEndpoint"] = get_att(f"{stem}Proxy", "Endpoint")
        values[f"{stem}Endpoint"] = get_att(stem, "Endpoint.Address")
        values[f"{stem}SecretArn"] = ref(datastores.secret_id(name))
    return {key: {"Value": value} for key, value in values.items()}


def merge_template(plan: Plan) -> Template:
    """The template `chalice package --merge-template` merges into its own."""
    return {
        "Description": f"Photofeed {plan.stage}: API, functions, data stores, operations",
        "Parameters": {
            **datastores.PARAMETERS,
            **functions.PARAMETERS,
            **monitoring.PARAMETERS,
            **PARAMETERS,
        },
        "Conditions": {**monitoring.CONDITIONS, **functions.CONDITIONS},
        "Resources": {
            **network.resources(plan),
            **service_resources(plan.prefix),
            **cdn_resources(plan),
            **datastores.redis_resources(plan),
            **datastores.database_resources(plan),
            **functions.function_resources(plan),
            **functions.api_overrides(plan),
            **api_gateway_overrides(plan),
            **monitoring.resources(plan),
        },
        "Outputs": outputs(plan),
    }
