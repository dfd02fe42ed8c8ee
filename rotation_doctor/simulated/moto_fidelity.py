"""Where moto differs from AWS in a way the engine depends on, make it answer as AWS does.

moto 5.2 reports every Lambda function's `VpcConfig.VpcId` as `vpc-123abc`; AWS reports the
VPC of the function's subnets. The collector copes with a wrong VpcId (it re-reads the subnets,
at the cost of extra calls), but the simulated account should look like AWS so that demo,
tests and call-count benchmarks see what a real account shows. See ../shared/notes/moto.md.
"""

from __future__ import annotations

from typing import Any

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.awslambda.models import LambdaFunction
    from moto.ec2.models import ec2_backends

    def vpc_config(self: Any) -> dict[str, Any] | None:
        if not self._vpc_config:
            return None
        config = dict(self._vpc_config)
        subnets = config.get("SubnetIds") or []
        if subnets:
            try:
                config["VpcId"] = ec2_backends[self.account_id][self.region].get_subnet(subnets[0]).vpc_id
            except Exception:
                config["VpcId"] = ""
        return config

    LambdaFunction.vpc_config = property(vpc_config)  # type: ignore[method-assign,assignment]
    _applied = True


def revert_for_test() -> None:
    """Give back moto's own behaviour (a test of the collector's repair path uses it)."""
    global _applied
    from moto.awslambda.models import LambdaFunction

    def vpc_config(self: Any) -> dict[str, Any] | None:
        if not self._vpc_config:
            return None
        config = dict(self._vpc_config)
        if config.get("SecurityGroupIds"):
            config["VpcId"] = "vpc-123abc"
        return config

    LambdaFunction.vpc_config = property(vpc_config)  # type: ignore[method-assign,assignment]
    _applied = False
