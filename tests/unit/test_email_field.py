"""The e-mail field remembers its checks; it must still answer exactly as pydantic's EmailStr
(lower-cased, at most 320 characters) does, the first time and every time after."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import AfterValidator, BaseModel, EmailStr, Field, ValidationError

from core.schemas import Email


class Plain(BaseModel):
    email: Annotated[EmailStr, AfterValidator(str.lower), Field(max_length=320)]


class Ours(BaseModel):
    email: Email


def outcome(model: type[BaseModel], value: Any) -> tuple[str, Any]:
    try:
        return "ok", model.model_validate({"email": value}).model_dump()
    except ValidationError as exc:
        return "refused", [(e["type"], e["loc"], e["msg"]) for e in exc.errors()]


@pytest.mark.parametrize(
    "value",
    [
        "Ada@Acme.de",
        " ADA@acme.DE ",
        "ünïcode@Bücher.de",
        "ada@xn--bcher-kva.de",
        "Ada Lovelace <ada@acme.de>",
        "ada@acme",
        "not an email",
        "",
        "a@-a.de",
        "ada@localhost",
        "x" * 330 + "@acme.de",
        "a" * 64 + "@" + "b" * 250 + ".de",
        5,
        None,
    ],
)
def test_the_email_field_answers_as_email_str_does_each_time(value):
    expected = outcome(Plain, value)
    assert outcome(Ours, value) == expected
    assert outcome(Ours, value) == expected  # now from the remembered check


def test_the_openapi_schema_is_email_str_s():
    assert Ours.model_json_schema()["properties"] == Plain.model_json_schema()["properties"]
