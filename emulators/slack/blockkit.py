"""Block Kit validation against Slack's documented limits.

Pure functions: data in, a list of error strings out. Each error ends with a JSON pointer to
the offending value, in the form Slack uses (``"... [json-pointer:/blocks/0/text/text]"``), so
a failed assertion says exactly where the problem is. An empty list means valid.
"""

from __future__ import annotations

from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
MAX_PRIVATE_METADATA = 3000
MAX_CALLBACK_ID = 255
MAX_EXTERNAL_ID = 255
MAX_VIEW_TITLE = 24
MAX_VIEW_BUTTON = 24

MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_SECTION_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_LABEL = 2000
MAX_HINT = 2000
MAX_PLACEHOLDER = 150
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTION_DESCRIPTION = 75
MAX_SELECT_OPTIONS = 100
MAX_CHOICE_OPTIONS = 10  # checkboxes and radio buttons
MAX_OVERFLOW_OPTIONS = 5
MAX_TEXT_INPUT_LENGTH = 3000
MAX_IMAGE_ALT_TEXT = 2000

SELECT_TYPES = frozenset(
    {
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
    }
)
TEXT_INPUT_TYPES = frozenset(
    {"plain_text_input", "email_text_input", "url_text_input", "number_input", "rich_text_input"}
)
INTERACTIVE_TYPES = frozenset(
    {
        "button",
        "checkboxes",
        "datepicker",
        "datetimepicker",
        "overflow",
        "radio_buttons",
        "timepicker",
        "file_input",
        *SELECT_TYPES,
        *TEXT_INPUT_TYPES,
    }
)
ACTIONS_ELEMENT_TYPES = INTERACTIVE_TYPES - {"file_input", *TEXT_INPUT_TYPES}
ACCESSORY_TYPES = (INTERACTIVE_TYPES - {"file_input", "datetimepicker", *TEXT_INPUT_TYPES}) | {
    "image"
}
INPUT_ELEMENT_TYPES = INTERACTIVE_TYPES - {"button", "overflow"}
BLOCK_TYPES = frozenset(
    {
        "section",
        "divider",
        "image",
        "actions",
        "context",
        "input",
        "header",
        "rich_text",
        "file",
        "video",
        "markdown",
    }
)


class _Checker:
    """Collects errors while walking one message or view."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, pointer: str, message: str) -> None:
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    def string(
        self, value: Any, pointer: str, *, max_len: int, required: bool = True, min_len: int = 1
    ) -> None:
        if value is None:
            if required:
                self.fail(pointer, "missing required field")
            return
        if not isinstance(value, str):
            self.fail(pointer, "must be a string")
        elif len(value) > max_len:
            self.fail(pointer, f"must be less than {max_len + 1} characters")
        elif len(value) < min_len:
            self.fail(pointer, f"must be more than {min_len - 1} characters")

    def text(
        self,
        obj: Any,
        pointer: str,
        *,
        max_len: int,
        plain_only: bool = False,
        required: bool = True,
    ) -> None:
        if obj is None:
            if required:
                self.fail(pointer, "missing required field")
            return
        if not isinstance(obj, dict):
            self.fail(pointer, "must be a text object")
            return
        kind = obj.get("type")
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if kind not in allowed:
            self.fail(f"{pointer}/type", f"must be one of {', '.join(allowed)}")
        self.string(obj.get("text"), f"{pointer}/text", max_len=max_len)

    def items(self, value: Any, pointer: str, *, max_items: int, min_items: int = 1) -> list[Any]:
        if not isinstance(value, list):
            self.fail(pointer, "must be an array")
            return []
        if len(value) > max_items:
            self.fail(pointer, f"no more than {max_items} items allowed")
        elif len(value) < min_items:
            self.fail(pointer, f"must provide at least {min_items} items")
        return value

    # elements ---------------------------------------------------------------------------------

    def option(self, option: Any, pointer: str, *, plain_only: bool) -> None:
        if not isinstance(option, dict):
            self.fail(pointer, "must be an option object")
            return
        self.text(
            option.get("text"), f"{pointer}/text", max_len=MAX_OPTION_TEXT, plain_only=plain_only
        )
        self.string(option.get("value"), f"{pointer}/value", max_len=MAX_OPTION_VALUE)
        if "description" in option:
            self.text(
                option["description"],
                f"{pointer}/description",
                max_len=MAX_OPTION_DESCRIPTION,
                plain_only=plain_only,
            )

    def options(
        self, element: dict[str, Any], pointer: str, *, max_items: int, plain_only: bool
    ) -> None:
        options = self.items(element.get("options"), f"{pointer}/options", max_items=max_items)
        for i, option in enumerate(options):
            self.option(option, f"{pointer}/options/{i}", plain_only=plain_only)

    def element(self, element: Any, pointer: str, allowed: frozenset[str]) -> str | None:
        if not isinstance(element, dict):
            self.fail(pointer, "must be an element object")
            return None
        kind = element.get("type")
        if kind not in allowed:
            self.fail(f"{pointer}/type", f"unsupported element type: {kind}")
            return None
        if kind == "image":
            self.image_source(element, pointer)
            return None
        action_id = element.get("action_id")
        if action_id is not None:
            self.string(action_id, f"{pointer}/action_id", max_len=MAX_ACTION_ID)
        if "placeholder" in element:
            self.text(
                element["placeholder"],
                f"{pointer}/placeholder",
                max_len=MAX_PLACEHOLDER,
                plain_only=True,
            )
        if kind == "button":
            self.text(
                element.get("text"), f"{pointer}/text", max_len=MAX_BUTTON_TEXT, plain_only=True
            )
            self.string(
                element.get("value"), f"{pointer}/value", max_len=MAX_BUTTON_VALUE, required=False
            )
            self.string(element.get("url"), f"{pointer}/url", max_len=MAX_URL, required=False)
            if element.get("style") not in (None, "primary", "danger"):
                self.fail(f"{pointer}/style", "must be one of primary, danger")
        elif kind in ("static_select", "multi_static_select"):
            if "option_groups" in element:
                groups = self.items(
                    element["option_groups"],
                    f"{pointer}/option_groups",
                    max_items=MAX_SELECT_OPTIONS,
                )
                for g, group in enumerate(groups):
                    if isinstance(group, dict):
                        self.options(
                            group,
                            f"{pointer}/option_groups/{g}",
                            max_items=MAX_SELECT_OPTIONS,
                            plain_only=True,
                        )
            else:
                self.options(element, pointer, max_items=MAX_SELECT_OPTIONS, plain_only=True)
        elif kind in ("checkboxes", "radio_buttons"):
            self.options(element, pointer, max_items=MAX_CHOICE_OPTIONS, plain_only=False)
        elif kind == "overflow":
            options = self.items(
                element.get("options"),
                f"{pointer}/options",
                max_items=MAX_OVERFLOW_OPTIONS,
                min_items=2,
            )
            for i, option in enumerate(options):
                self.option(option, f"{pointer}/options/{i}", plain_only=True)
        elif kind == "plain_text_input":
            for key in ("max_length", "min_length"):
                value = element.get(key)
                if value is None:
                    continue
                if not isinstance(value, int) or isinstance(value, bool):
                    self.fail(f"{pointer}/{key}", "must be an integer")
                elif value > MAX_TEXT_INPUT_LENGTH:
                    self.fail(f"{pointer}/{key}", f"must be less than {MAX_TEXT_INPUT_LENGTH + 1}")
                elif value < (1 if key == "max_length" else 0):
                    self.fail(f"{pointer}/{key}", "must be a positive integer")
        return str(action_id) if isinstance(action_id, str) else None

    def image_source(self, obj: dict[str, Any], pointer: str) -> None:
        if "image_url" in obj:
            self.string(obj["image_url"], f"{pointer}/image_url", max_len=MAX_URL)
        elif "slack_file" not in obj:
            self.fail(f"{pointer}/image_url", "missing required field")
        self.string(obj.get("alt_text"), f"{pointer}/alt_text", max_len=MAX_IMAGE_ALT_TEXT)

    def unique_action_ids(self, action_ids: list[str | None], pointer: str) -> None:
        seen: set[str] = set()
        for action_id in action_ids:
            if action_id is None:
                continue
            if action_id in seen:
                self.fail(pointer, f"duplicate action_id: {action_id}")
            seen.add(action_id)

    # blocks -----------------------------------------------------------------------------------

    def block(self, block: Any, pointer: str) -> None:
        if not isinstance(block, dict):
            self.fail(pointer, "must be a block object")
            return
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.fail(f"{pointer}/type", f"unsupported type: {kind}")
            return
        if "block_id" in block:
            self.string(block["block_id"], f"{pointer}/block_id", max_len=MAX_BLOCK_ID)
        if kind == "section":
            self.section(block, pointer)
        elif kind == "header":
            self.text(
                block.get("text"), f"{pointer}/text", max_len=MAX_HEADER_TEXT, plain_only=True
            )
        elif kind == "actions":
            elements = self.items(
                block.get("elements"), f"{pointer}/elements", max_items=MAX_ACTIONS_ELEMENTS
            )
            ids = [
                self.element(e, f"{pointer}/elements/{i}", ACTIONS_ELEMENT_TYPES)
                for i, e in enumerate(elements)
            ]
            self.unique_action_ids(ids, f"{pointer}/elements")
        elif kind == "context":
            elements = self.items(
                block.get("elements"), f"{pointer}/elements", max_items=MAX_CONTEXT_ELEMENTS
            )
            for i, element in enumerate(elements):
                sub = f"{pointer}/elements/{i}"
                if isinstance(element, dict) and element.get("type") == "image":
                    self.image_source(element, sub)
                else:
                    self.text(element, sub, max_len=MAX_SECTION_TEXT)
        elif kind == "input":
            self.text(block.get("label"), f"{pointer}/label", max_len=MAX_LABEL, plain_only=True)
            if "hint" in block:
                self.text(block["hint"], f"{pointer}/hint", max_len=MAX_HINT, plain_only=True)
            if block.get("element") is None:
                self.fail(f"{pointer}/element", "missing required field")
            else:
                self.element(block["element"], f"{pointer}/element", INPUT_ELEMENT_TYPES)
        elif kind == "image":
            self.image_source(block, pointer)
            if "title" in block:
                self.text(
                    block["title"], f"{pointer}/title", max_len=MAX_IMAGE_ALT_TEXT, plain_only=True
                )
        elif kind == "markdown":
            self.string(block.get("text"), f"{pointer}/text", max_len=12_000)
        elif kind == "rich_text":
            self.items(block.get("elements"), f"{pointer}/elements", max_items=MAX_VIEW_BLOCKS)

    def section(self, block: dict[str, Any], pointer: str) -> None:
        has_text = "text" in block
        has_fields = "fields" in block
        if not has_text and not has_fields:
            self.fail(pointer, "must provide either text or fields")
        if has_text:
            self.text(block["text"], f"{pointer}/text", max_len=MAX_SECTION_TEXT)
        if has_fields:
            fields = self.items(block["fields"], f"{pointer}/fields", max_items=MAX_SECTION_FIELDS)
            for i, field in enumerate(fields):
                self.text(field, f"{pointer}/fields/{i}", max_len=MAX_SECTION_FIELD_TEXT)
        if "accessory" in block:
            self.element(block["accessory"], f"{pointer}/accessory", ACCESSORY_TYPES)

    def blocks(self, blocks: Any, pointer: str, *, max_blocks: int) -> None:
        items = self.items(blocks, pointer, max_items=max_blocks, min_items=0)
        seen: set[str] = set()
        for i, block in enumerate(items):
            self.block(block, f"{pointer}/{i}")
            block_id = block.get("block_id") if isinstance(block, dict) else None
            if isinstance(block_id, str):
                if block_id in seen:
                    self.fail(f"{pointer}/{i}/block_id", f"duplicate block_id: {block_id}")
                seen.add(block_id)


def validate_blocks(blocks: Any) -> list[str]:
    """Errors in the ``blocks`` of a message (at most 50 blocks)."""
    checker = _Checker()
    checker.blocks(blocks, "/blocks", max_blocks=MAX_MESSAGE_BLOCKS)
    return checker.errors


def message_text_too_long(text: Any) -> bool:
    """Slack refuses message text over 40,000 characters with ``msg_too_long``."""
    return isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT


def validate_view(view: Any) -> list[str]:
    """Errors in a view payload (modal or home), with pointers under ``/view``."""
    checker = _Checker()
    if not isinstance(view, dict):
        checker.fail("/view", "must be a view object")
        return checker.errors
    kind = view.get("type")
    if kind not in ("modal", "home"):
        checker.fail("/view/type", "must be one of modal, home")
        return checker.errors
    checker.blocks(view.get("blocks"), "/view/blocks", max_blocks=MAX_VIEW_BLOCKS)
    for key, limit in (
        ("private_metadata", MAX_PRIVATE_METADATA),
        ("callback_id", MAX_CALLBACK_ID),
        ("external_id", MAX_EXTERNAL_ID),
    ):
        checker.string(view.get(key), f"/view/{key}", max_len=limit, required=False, min_len=0)
    if kind == "modal":
        checker.text(view.get("title"), "/view/title", max_len=MAX_VIEW_TITLE, plain_only=True)
        for key in ("submit", "close"):
            if view.get(key) is not None:
                checker.text(view[key], f"/view/{key}", max_len=MAX_VIEW_BUTTON, plain_only=True)
        raw_blocks = view.get("blocks")
        blocks: list[Any] = raw_blocks if isinstance(raw_blocks, list) else []
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        if has_input and view.get("submit") is None:
            checker.fail("/view/submit", "must provide submit when the view has input blocks")
    return checker.errors


def as_slack_messages(errors: list[str]) -> list[str]:
    """The ``response_metadata.messages`` form of validation errors."""
    return [f"[ERROR] {error}" for error in errors]
