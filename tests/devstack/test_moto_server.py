"""devstack.moto_server: index queries answer as moto's own, without sorting the table."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table

from devstack import moto_server

WORDS = ("river", "stone", "maple", "coast")


@pytest.fixture
def table(monkeypatch):
    """GIVEN a table of name claims with a sparse search index (as resources.py makes),
    in moto in this process (this tests moto itself, as the stack runs it)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)  # not the stack's moto: this process's
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="claims",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sp", "sn")
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "search",
                    "KeySchema": [
                        {"AttributeName": "sp", "KeyType": "HASH"},
                        {"AttributeName": "sn", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        for i in range(400):
            name = f"{WORDS[i % len(WORDS)]}_{(i * 7919) % 400}"
            item = {"pk": {"S": f"username#{name}"}, "sp": {"S": name[0]}, "sn": {"S": name}}
            client.put_item(TableName="claims", Item=item)
            client.put_item(TableName="claims", Item={"pk": {"S": f"email#{name}"}})
        assert "claims" in dynamodb_backends["123456789012"]["us-east-1"].tables
        yield client


def _queries(client) -> list:
    answers = []
    for prefix, low in (("r", "river_1"), ("s", "stone_"), ("m", "maple_39"), ("c", "cz")):
        for forward in (True, False):
            answers.append(
                client.query(
                    TableName="claims",
                    IndexName="search",
                    KeyConditionExpression="sp = :p AND sn BETWEEN :a AND :b",
                    ExpressionAttributeValues={
                        ":p": {"S": prefix},
                        ":a": {"S": low},
                        ":b": {"S": low + "~"},
                    },
                    ScanIndexForward=forward,
                    Limit=7,
                )["Items"]
            )
    for prefix, start in (("r", "river_3"), ("c", "coast_")):
        answers.append(
            client.query(
                TableName="claims",
                IndexName="search",
                KeyConditionExpression="sp = :p AND begins_with(sn, :s)",
                ExpressionAttributeValues={":p": {"S": prefix}, ":s": {"S": start}},
            )["Items"]
        )
    return answers


def test_index_queries_and_scans_answer_as_unpatched_moto(table, monkeypatch) -> None:
    before = _queries(table)
    scanned = table.scan(TableName="claims", Limit=50)["Items"]
    monkeypatch.setattr(Table, "all_items", Table.all_items)
    monkeypatch.setattr(Table, "query", Table.query)
    moto_server.install()
    assert _queries(table) == before
    assert any(before)
    assert table.scan(TableName="claims", Limit=50)["Items"] == scanned
