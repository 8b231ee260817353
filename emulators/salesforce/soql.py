"""The subset of SOQL the emulator answers.

``SELECT f1, f2 FROM Object [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n]``, where ``cond`` is comparisons (``= != < <= > >= LIKE IN NOT IN``) joined by
``AND``/``OR``/``NOT`` with parentheses. As in Salesforce, ``AND`` and ``OR`` may not be mixed
at one level without parentheses, string comparisons ignore case, a dateTime field takes an
unquoted dateTime literal (``2024-05-01T10:00:00Z``) and a date field a date literal.

Parse errors raise :class:`SoqlError` with ``MALFORMED_QUERY``; a field or object the org does
not have raises it with ``INVALID_FIELD`` / ``INVALID_TYPE``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

DATETIME_TYPES = {"datetime"}
DATE_TYPES = {"date"}
NUMBER_TYPES = {"int", "double", "currency", "percent"}
BOOLEAN_TYPES = {"boolean"}


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    """,
    re.VERBOSE,
)

_KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "LIMIT",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "TRUE",
    "FALSE",
    "NULL",
}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text[pos : pos + 10]}'")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


@dataclass
class Literal:
    kind: str  # string | datetime | date | number | boolean | null
    value: Any


@dataclass
class Comparison:
    field: str
    op: str
    value: Literal | list[Literal]


@dataclass
class BoolOp:
    op: str  # AND | OR | NOT
    parts: list[Condition]


Condition = Comparison | BoolOp


@dataclass
class Query:
    fields: list[str]
    sobject: str
    where: Condition | None = None
    order_by: list[tuple[str, bool, bool]] = field(default_factory=list)  # field, desc, nulls_last
    limit: int | None = None


def _unescape(raw: str) -> str:
    body = raw[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            nxt = body[index + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt))
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def parse_datetime_literal(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.astimezone(UTC)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        self.index += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.upper == word:
            self.index += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.keyword(word):
            token = self.peek()
            found = token.text if token else "end of query"
            raise SoqlError("MALFORMED_QUERY", f"expecting '{word}', found '{found}'")

    def identifier(self) -> str:
        token = self.next()
        if token.kind != "word" or token.upper in _KEYWORDS:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{token.text}'")
        return token.text

    def punct(self, char: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "punct" and token.text == char:
            self.index += 1
            return True
        return False

    def parse(self) -> Query:
        self.expect("SELECT")
        fields = [self.identifier()]
        while self.punct(","):
            fields.append(self.identifier())
        self.expect("FROM")
        query = Query(fields=fields, sobject=self.identifier())
        if self.keyword("WHERE"):
            query.where = self.condition()
        if self.keyword("ORDER"):
            self.expect("BY")
            query.order_by.append(self.order_item())
            while self.punct(","):
                query.order_by.append(self.order_item())
        if self.keyword("LIMIT"):
            token = self.next()
            if token.kind != "number" or not token.text.isdigit():
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{token.text}'")
            query.limit = int(token.text)
        rest = self.peek()
        if rest is not None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{rest.text}'")
        return query

    def order_item(self) -> tuple[str, bool, bool]:
        name = self.identifier()
        desc = False
        if self.keyword("DESC"):
            desc = True
        else:
            self.keyword("ASC")
        nulls_last = desc
        if self.keyword("NULLS"):
            if self.keyword("LAST"):
                nulls_last = True
            else:
                self.expect("FIRST")
                nulls_last = False
        return name, desc, nulls_last

    def condition(self) -> Condition:
        parts = [self.unary()]
        joiner: str | None = None
        while True:
            token = self.peek()
            if token is None or token.kind != "word" or token.upper not in ("AND", "OR"):
                break
            if joiner is not None and token.upper != joiner:
                raise SoqlError(
                    "MALFORMED_QUERY",
                    f"unexpected token: '{token.text}' (use parentheses to mix AND and OR)",
                )
            joiner = token.upper
            self.index += 1
            parts.append(self.unary())
        if joiner is None:
            return parts[0]
        return BoolOp(joiner, parts)

    def unary(self) -> Condition:
        if self.keyword("NOT"):
            return BoolOp("NOT", [self.unary()])
        if self.punct("("):
            inner = self.condition()
            if not self.punct(")"):
                raise SoqlError("MALFORMED_QUERY", "expecting ')'")
            return inner
        name = self.identifier()
        negate = self.keyword("NOT")
        if self.keyword("IN"):
            if not self.punct("("):
                raise SoqlError("MALFORMED_QUERY", "expecting '('")
            values = [self.literal()]
            while self.punct(","):
                values.append(self.literal())
            if not self.punct(")"):
                raise SoqlError("MALFORMED_QUERY", "expecting ')'")
            return Comparison(name, "NOT IN" if negate else "IN", values)
        if negate:
            raise SoqlError("MALFORMED_QUERY", "expecting 'IN' after 'NOT'")
        if self.keyword("LIKE"):
            return Comparison(name, "LIKE", self.literal())
        token = self.next()
        if token.kind != "op":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{token.text}'")
        op = "!=" if token.text == "<>" else token.text
        return Comparison(name, op, self.literal())

    def literal(self) -> Literal:
        token = self.next()
        if token.kind == "string":
            return Literal("string", _unescape(token.text))
        if token.kind == "datetime":
            try:
                return Literal("datetime", parse_datetime_literal(token.text))
            except ValueError:
                raise SoqlError("MALFORMED_QUERY", f"invalid dateTime: {token.text}") from None
        if token.kind == "date":
            try:
                return Literal("date", date.fromisoformat(token.text))
            except ValueError:
                raise SoqlError("MALFORMED_QUERY", f"invalid date: {token.text}") from None
        if token.kind == "number":
            number = float(token.text) if "." in token.text else int(token.text)
            return Literal("number", number)
        if token.kind == "word" and token.upper in ("TRUE", "FALSE"):
            return Literal("boolean", token.upper == "TRUE")
        if token.kind == "word" and token.upper == "NULL":
            return Literal("null", None)
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{token.text}'")


def parse(text: str) -> Query:
    return _Parser(text).parse()


# evaluation ----------------------------------------------------------------------------------

FieldTypes = Mapping[str, str]  # field name -> Salesforce type (lower case)


def resolve(name: str, types: FieldTypes, sobject: str) -> str:
    """The field's canonical name (SOQL field names ignore case)."""
    for known in types:
        if known.lower() == name.lower():
            return known
    raise SoqlError("INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'.")


def _literal_fits(kind: str, field_type: str) -> bool:
    if kind == "null":
        return True
    if field_type in DATETIME_TYPES:
        return kind == "datetime"
    if field_type in DATE_TYPES:
        return kind == "date"
    if field_type in NUMBER_TYPES:
        return kind == "number"
    if field_type in BOOLEAN_TYPES:
        return kind == "boolean"
    return kind == "string"


def _check(cond: Condition, types: FieldTypes, sobject: str) -> Condition:
    if isinstance(cond, BoolOp):
        return BoolOp(cond.op, [_check(part, types, sobject) for part in cond.parts])
    name = resolve(cond.field, types, sobject)
    field_type = types[name]
    literals = cond.value if isinstance(cond.value, list) else [cond.value]
    for literal in literals:
        if not _literal_fits(literal.kind, field_type):
            raise SoqlError(
                "INVALID_FIELD",
                f"value of filter criterion for field '{name}' must be of type {field_type}"
                + (" and should not be enclosed in quotes" if literal.kind == "string" else ""),
            )
        if literal.kind == "null" and cond.op not in ("=", "!=", "IN", "NOT IN"):
            raise SoqlError("MALFORMED_QUERY", f"null is only compared with = or != ({name})")
    if cond.op == "LIKE" and field_type in DATETIME_TYPES | DATE_TYPES | NUMBER_TYPES:
        raise SoqlError("INVALID_FIELD", f"invalid operator on field '{name}': LIKE")
    return Comparison(name, cond.op, cond.value)


def compile_query(query: Query, types: FieldTypes) -> Query:
    """Check fields and literal types against the object's fields; names made canonical."""
    fields = [resolve(name, types, query.sobject) for name in query.fields]
    where = _check(query.where, types, query.sobject) if query.where is not None else None
    order = [(resolve(n, types, query.sobject), d, nl) for n, d, nl in query.order_by]
    return Query(fields, query.sobject, where, order, query.limit)


def _norm(value: Any, id_like: bool) -> Any:
    if isinstance(value, str) and not id_like:
        return value.casefold()
    return value


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _like(value: Any, pattern: str) -> bool:
    if value is None:
        return False
    regex = "".join(
        ".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern.casefold()
    )
    return re.fullmatch(regex, str(value).casefold(), re.DOTALL) is not None


def _id_key(value: Any) -> Any:
    return value[:15] if isinstance(value, str) and len(value) == 18 else value


def matches(cond: Condition | None, record: Mapping[str, Any], types: FieldTypes) -> bool:
    if cond is None:
        return True
    if isinstance(cond, BoolOp):
        if cond.op == "NOT":
            return not matches(cond.parts[0], record, types)
        results = (matches(part, record, types) for part in cond.parts)
        return all(results) if cond.op == "AND" else any(results)
    field_type = types[cond.field]
    id_like = field_type in ("id", "reference")
    value = record.get(cond.field)
    if id_like:
        value = _id_key(value)
    if cond.op in ("IN", "NOT IN"):
        assert isinstance(cond.value, list)
        options = [
            _norm(_id_key(lit.value) if id_like else lit.value, id_like) for lit in cond.value
        ]
        found = _norm(value, id_like) in options
        return found if cond.op == "IN" else not found
    assert isinstance(cond.value, Literal)
    if cond.op == "LIKE":
        return _like(value, str(cond.value.value))
    right = _id_key(cond.value.value) if id_like else cond.value.value
    return _compare(_norm(value, id_like), cond.op, _norm(right, id_like))


def _sort_key(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda record: _norm(record[name], name == "Id")


def sort_records(
    records: list[dict[str, Any]], order: list[tuple[str, bool, bool]]
) -> list[dict[str, Any]]:
    result = list(records)
    for name, desc, nulls_last in reversed(order):
        present = [r for r in result if r.get(name) is not None]
        missing = [r for r in result if r.get(name) is None]
        present.sort(key=_sort_key(name), reverse=desc)
        result = present + missing if nulls_last else missing + present
    return result


def run(
    query: Query,
    records: list[dict[str, Any]],
    types: FieldTypes,
    *,
    select: Callable[[dict[str, Any], list[str]], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Filter, order, limit and project ``records`` (already compiled ``query``)."""
    found = [r for r in records if matches(query.where, r, types)]
    found = sort_records(found, query.order_by)
    if query.limit is not None:
        found = found[: query.limit]
    return [select(r, query.fields) for r in found]


def format_datetime(value: datetime) -> str:
    """Salesforce's form: ``2024-05-01T10:00:00.000+0000``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime:
    """Read Salesforce's dateTime form (and ISO forms) as an aware UTC datetime."""
    cleaned = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.replace("Z", "+00:00"))
    value = datetime.fromisoformat(cleaned)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone(timedelta(0)))
    return value.astimezone(UTC)
