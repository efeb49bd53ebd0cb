"""Request validation against the Fly Machines OpenAPI subset in `shared/fly/`.

Operations are matched by method and path template; request bodies are validated with a
Draft 2020-12 validator against the component schemas (`$ref`s resolve inside the spec), and
query parameters are coerced the way Go's strconv does before being validated against their
parameter schemas.

Two places where the spec's own annotations say the wire accepts more than the schema states
are widened here (see `_SCHEMA_OVERRIDES`); everything else is the spec verbatim.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "fly" / "machines-openapi-subset.json"

# (schema name, JSON pointer parts inside it) -> replacement, each justified by the spec itself.
_SCHEMA_OVERRIDES: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {
    # x-note: "A JSON null value unsets that secret (fly-go: map[string]*string)."
    ("AppSecretsUpdateRequest", ("properties", "values", "additionalProperties")): {
        "type": ["string", "null"]
    },
    # description: "Accepts a string or a boolean (old format)".
    ("fly.MachineService", ("properties", "autostop")): {
        "type": ["string", "boolean"],
        "enum": ["off", "stop", "suspend", True, False],
    },
}

_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
_INT = re.compile(r"^[+-]?\d+$")
_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # "path" | "query"
    required: bool
    schema: dict[str, Any]


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    template: str
    pattern: re.Pattern[str]
    parameters: tuple[Parameter, ...]
    body_schema_ref: str | None  # component schema name
    body_required: bool


class RouteNotFound(Exception):
    pass


class MethodNotAllowed(Exception):
    pass


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join(f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part) for part in parts)
    return re.compile(f"^{regex}$")


class OpenAPIContract:
    """The operations and component schemas of one OpenAPI 3.0 document."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.components: dict[str, Any] = copy.deepcopy(spec["components"])
        for (schema_name, pointer), replacement in _SCHEMA_OVERRIDES.items():
            node: dict[str, Any] = self.components["schemas"][schema_name]
            for key in pointer[:-1]:
                node = node[key]
            node[pointer[-1]] = replacement
        self.operations: list[Operation] = []
        for template, item in spec["paths"].items():
            pattern = _template_regex(template)
            for method, op in item.items():
                if method not in _HTTP_METHODS:
                    continue
                params = tuple(
                    Parameter(p["name"], p["in"], bool(p.get("required")), p.get("schema", {}))
                    for p in op.get("parameters", [])
                )
                body = op.get("requestBody")
                ref: str | None = None
                if body is not None:
                    ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                self.operations.append(
                    Operation(
                        operation_id=op["operationId"],
                        method=method.upper(),
                        template=template,
                        pattern=pattern,
                        parameters=params,
                        body_schema_ref=ref,
                        body_required=bool(body and body.get("required")),
                    )
                )

    @classmethod
    def load(cls, path: Path = SPEC_PATH) -> OpenAPIContract:
        return _load_cached(str(path))

    # --- matching -----------------------------------------------------------------------------

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        """The operation for `method path` and its path parameters; raises RouteNotFound/MethodNotAllowed."""
        path_matched = False
        for op in self.operations:
            m = op.pattern.match(path)
            if m is None:
                continue
            path_matched = True
            if op.method == method.upper():
                return op, m.groupdict()
        if path_matched:
            raise MethodNotAllowed(f"method {method} not allowed on {path}")
        raise RouteNotFound(f"no route for {method} {path}")

    # --- schemas ------------------------------------------------------------------------------

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        return Draft202012Validator({**schema, "components": self.components})

    def schema_errors(self, schema_name: str, instance: Any) -> list[str]:
        """Messages for every way `instance` breaks `#/components/schemas/<schema_name>`."""
        return self._errors(_component_validator(self, schema_name), instance)

    @staticmethod
    def _errors(validator: Draft202012Validator, instance: Any) -> list[str]:
        out = []
        for err in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
            where = ".".join(str(p) for p in err.absolute_path)
            out.append(f"{where or '<body>'}: {err.message}")
        return out

    # --- requests -----------------------------------------------------------------------------

    def validate_body(self, op: Operation, raw: bytes) -> tuple[Any, list[str]]:
        """The decoded JSON body and any errors against the operation's request schema."""
        if not raw.strip():
            if op.body_required:
                return None, ["request body is required"]
            return None, []
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return None, [f"invalid JSON body: {exc}"]
        if op.body_schema_ref is None:
            return body, []
        return body, self.schema_errors(op.body_schema_ref, body)

    def parse_params(
        self, op: Operation, path_params: dict[str, str], query: dict[str, list[str]]
    ) -> tuple[dict[str, list[Any]], list[str]]:
        """Typed query parameters (name -> list of values) and any errors.

        Repeated parameters keep every value; a string parameter with an enum also splits on commas
        (the wait endpoint's `state` "supports repeated or comma-separated values"). Parameters the
        spec does not declare are ignored, as the real API does (e.g. `kill`, `force`, `wait`).
        """
        errors: list[str] = []
        typed: dict[str, list[Any]] = {}
        for param in op.parameters:
            if "{" in param.name:  # e.g. metadata.{key}: a family of free-form filters
                continue
            if param.location == "path":
                values = [path_params[param.name]] if param.name in path_params else []
            elif param.location == "query":
                values = list(query.get(param.name, []))
            else:
                continue
            if not values:
                if param.required:
                    errors.append(f"{param.name}: required {param.location} parameter is missing")
                continue
            if "enum" in param.schema and param.schema.get("type") == "string":
                values = [piece for v in values for piece in v.split(",")]
            validator = _param_validator(self, json.dumps(param.schema, sort_keys=True))
            out: list[Any] = []
            for value in values:
                coerced, ok = _coerce(value, param.schema.get("type"))
                if not ok:
                    errors.append(f"{param.name}: {value!r} is not a valid {param.schema.get('type')}")
                    continue
                errors.extend(f"{param.name}: {err.message}" for err in validator.iter_errors(coerced))
                out.append(coerced)
            typed[param.name] = out
        return typed, errors


def _coerce(value: str, kind: Any) -> tuple[Any, bool]:
    if kind == "integer":
        return (int(value), True) if _INT.match(value) else (value, False)
    if kind == "boolean":
        if value in _GO_TRUE:
            return True, True
        if value in _GO_FALSE:
            return False, True
        return value, False
    return value, True


@cache
def _load_cached(path: str) -> OpenAPIContract:
    return OpenAPIContract(json.loads(Path(path).read_text()))


@cache
def _component_validator(contract: OpenAPIContract, schema_name: str) -> Draft202012Validator:
    if schema_name not in contract.components["schemas"]:
        raise KeyError(f"unknown component schema {schema_name!r}")
    return contract.validator({"$ref": f"#/components/schemas/{schema_name}"})


@cache
def _param_validator(contract: OpenAPIContract, schema_json: str) -> Draft202012Validator:
    return contract.validator(json.loads(schema_json))
