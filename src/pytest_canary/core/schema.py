"""The JSON Schemas of the files at our boundary, as a validator outside Python reads them.


Pydantic writes Draft 2020-12 schemas; this generator adds what a consumer needs to use one on
its own: the dialect (``$schema``), an identifier (``$id``) and a ``pattern`` on every date and every time we
write, since ``format`` alone only annotates in Draft 2020-12 and many validators do not assert it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from pytest_canary.core.models import (
    DATETIME_PATTERN,
    SCHEMA_VERSION,
    Blocklist,
    Kpis,
    OperateState,
)
from pytest_canary.core.records import AuditLine, ControlLog, Decision, RolloutLog

DIALECT = "https://json-schema.org/draft/2020-12/schema"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
AWARE_PATTERN = DATETIME_PATTERN.removesuffix("?$") + "$"


SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "kpis": Kpis,
    "blocklist": Blocklist,
    "operate_state": OperateState,
    "decision": Decision,
    "rollout_log": RolloutLog,
    "control_log": ControlLog,
    "audit_line": AuditLine,
}


def schema_id(name: str) -> str:
    """A stable name for the schema of one file kind; a URN, so nothing has to be hosted."""
    return f"urn:pytest-canary:schema:{name}:v{SCHEMA_VERSION}"


class _Generator(GenerateJsonSchema):
    schema_id = ""

    def generate(self, schema: CoreSchema, mode: JsonSchemaMode = "validation") -> JsonSchemaValue:
        generated = super().generate(schema, mode)
        return {"$schema": DIALECT, "$id": self.schema_id, **generated}

    def date_schema(self, schema: core_schema.DateSchema) -> JsonSchemaValue:
        return {**super().date_schema(schema), "pattern": DATE_PATTERN}

    def datetime_schema(self, schema: core_schema.DatetimeSchema) -> JsonSchemaValue:
        if schema.get("tz_constraint") == "aware":  # the times we write, always with an offset
            return {**super().datetime_schema(schema), "pattern": AWARE_PATTERN}
        # A time another job writes may leave out the offset, which format date-time forbids.
        return {"type": "string", "pattern": DATETIME_PATTERN}


def json_schema(name: str, model: type[BaseModel]) -> dict[str, Any]:
    generator = type("_Named", (_Generator,), {"schema_id": schema_id(name)})
    return model.model_json_schema(schema_generator=generator)


def schema_texts() -> dict[str, str]:
    """File name → JSON Schema text of every model at a file boundary."""
    return {
        f"{name}.schema.json": json.dumps(json_schema(name, model), indent=2, sort_keys=True) + "\n"
        for name, model in SCHEMA_MODELS.items()
    }
