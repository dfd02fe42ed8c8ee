"""AWS's responses for databases moto does not emulate, in the APIs' shapes, for botocore's Stubber."""

from __future__ import annotations

from typing import Any


def docdb_cluster_calls(cluster: dict[str, Any], group: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """What resolving the DocumentDB cluster `catalog` calls, answered with these shapes (Stubber's order)."""
    return [
        (
            "describe_db_clusters",
            {"DBClusters": [cluster]},
            {"Filters": [{"Name": "db-cluster-id", "Values": ["catalog"]}]},
        ),
        ("describe_db_subnet_groups", {"DBSubnetGroups": [group]}, {"DBSubnetGroupName": group["DBSubnetGroupName"]}),
    ]
