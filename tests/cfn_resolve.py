"""Resolve a template's intrinsic functions for given parameter values, as CloudFormation would.

Enough of CloudFormation for the IAM policies of template.yaml: Ref (parameters, pseudo parameters,
other resources by logical id), Fn::Sub, Fn::If with the template's Conditions, Fn::Join, Fn::Split,
Fn::Select, Fn::GetAtt, and AWS::NoValue. Tests use it to judge a policy in each deployment the
parameters allow (an allow-list set or empty, retry on or off, one account or an organization), and
org/member.yaml in each place a StackSet puts it (the pseudo parameters).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "rotation-doctor",
    "AWS::URLSuffix": "amazonaws.com",
}
NO_VALUE = object()


class Resolver:
    def __init__(
        self, template: Mapping[str, Any], parameters: Mapping[str, Any], pseudo: Mapping[str, str] | None = None
    ) -> None:
        """`pseudo` overrides pseudo parameters (AWS::AccountId, AWS::Region): where a stack instance is."""
        self.template = template
        self.pseudo = {**PSEUDO, **(pseudo or {})}
        self.parameters: dict[str, Any] = {}
        for name, spec in (template.get("Parameters") or {}).items():
            value = parameters.get(name, spec.get("Default"))
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",") if value else [""]
            self.parameters[name] = value
        unknown = set(parameters) - set(self.parameters)
        if unknown:
            raise KeyError(f"not parameters of the template: {unknown}")

    def condition(self, name: str) -> bool:
        return bool(self._condition(self.template["Conditions"][name]))

    def _condition(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return a == b
            if fn == "Fn::Not":
                return not self._condition(arg[0])
            if fn == "Fn::And":
                return all(self._condition(x) for x in arg)
            if fn == "Fn::Or":
                return any(self._condition(x) for x in arg)
            if fn == "Condition":
                return self.condition(arg)
        return self.resolve(node)

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in (self.template.get("Resources") or {}) or self._sam_role(name):
            return f"{name}-physical-id"
        raise KeyError(name)

    def _sam_role(self, name: str) -> bool:
        """SAM makes `<Function>Role` for a function that names no role of its own."""
        function = (self.template.get("Resources") or {}).get(name.removesuffix("Role"), {})
        return function.get("Type") == "AWS::Serverless::Function" and "Role" not in function.get("Properties", {})

    def exists(self, logical_id: str) -> bool:
        """Whether the resource (or output) is made: it has no Condition, or its Condition holds."""
        for section in ("Resources", "Outputs"):
            entry = (self.template.get(section) or {}).get(logical_id)
            if entry is not None:
                return "Condition" not in entry or self.condition(entry["Condition"])
        raise KeyError(logical_id)

    def resources(self) -> dict[str, Any]:
        """The resources made for these parameters, each resolved."""
        return {
            name: self.resolve(resource)
            for name, resource in (self.template.get("Resources") or {}).items()
            if self.exists(name)
        }

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(x) for x in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Join":
                delimiter, values = arg
                return delimiter.join(str(v) for v in self.resolve(values))
            if key == "Fn::Split":
                delimiter, source = arg
                return str(self.resolve(source)).split(delimiter)
            if key == "Fn::Select":
                index, values = arg
                return self.resolve(values)[int(self.resolve(index))]
            if key == "Fn::GetAtt":
                resource, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return f"{resource}.{attribute}"
        out = {}
        for key, value in node.items():
            resolved = self.resolve(value)
            if resolved is not NO_VALUE:
                out[key] = resolved
        return out

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {k: self.resolve(v) for k, v in variables.items()}

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return str(local[name])
            if "." in name:
                return name
            resolved = self.ref(name)
            return ",".join(resolved) if isinstance(resolved, list) else str(resolved)

        return re.sub(r"\$\{([\w:.]+)\}", value, text)
