"""The sandbox's JSON replies validate against the schemas people send (checked by jsonschema)."""

from __future__ import annotations

from typing import Any, Literal

import jsonschema
import pytest
from pydantic import BaseModel, Field

from annas_gift.sandbox.schema_instance import schema_instance


class Address(BaseModel):
    street: str
    postcode: str = Field(min_length=4, max_length=6)


class Person(BaseModel):
    name: str
    age: int = Field(ge=18, le=120)
    score: float = Field(gt=0.5, multiple_of=0.25)
    role: Literal["student", "tutor"]
    email: str | None = None
    tags: list[str] = Field(min_length=2)
    home: Address
    previous: list[Address] = []


SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
    {"type": "array", "items": {"type": "integer", "minimum": 3}, "minItems": 2},
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "boolean"}]},
    {"type": ["null", "number"], "exclusiveMinimum": 1, "exclusiveMaximum": 2},
    {"type": "integer", "minimum": 7, "multipleOf": 5},
    {"type": "string", "format": "date-time"},
    {"type": "string", "format": "email"},
    {"type": "string", "minLength": 20, "maxLength": 25},
    {"enum": ["red", "green"]},
    {"const": {"fixed": True}},
    {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 3}]},
    {"oneOf": [{"type": "integer", "maximum": -3}]},
    {"allOf": [{"properties": {"x": {"type": "integer"}}, "required": ["x"]}, {"required": ["y"]}]},
    {"type": "object", "minProperties": 2, "additionalProperties": {"type": "integer"}},
    {
        "$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}}}},
        "type": "object",
        "properties": {"root": {"$ref": "#/$defs/node"}},
        "required": ["root"],
        "additionalProperties": False,
    },
    Person.model_json_schema(),
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
def test_instance_validates(schema: dict[str, Any]) -> None:
    instance = schema_instance(schema, "hello world")
    jsonschema.validate(instance, schema, format_checker=jsonschema.FormatChecker())


def test_pydantic_model_round_trips() -> None:
    person = Person.model_validate(schema_instance(Person.model_json_schema(), "Ada"))
    assert person.name == "Ada"
    assert person.age == 18
    assert person.role == "student"
    assert len(person.tags) == 2 and person.tags[0] != person.tags[1]
    assert 4 <= len(person.home.postcode) <= 6


def test_only_required_properties_are_filled() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "required": ["b"],
    }
    assert schema_instance(schema, "t") == {"b": "t"}


def test_same_schema_same_instance() -> None:
    schema = Person.model_json_schema()
    assert schema_instance(schema, "x") == schema_instance(schema, "x")
