"""Mapping between the demo API's records and the unified model, one table
per entity (the same tables as the Rust example's `mapping.rs`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from interlink_sdk import Page, Record
from interlink_sdk.errors import Invalid, NotFound

# How one value converts: the same JSON value; a numeric id upstream and a
# string id unified; `isActive: bool` upstream and `status` unified.
PLAIN, ID, ACTIVE = "plain", "id", "active"


@dataclass(frozen=True)
class EntityMap:
    collection: str
    #: (unified name, upstream path, dotted for nested objects; conversion)
    fields: tuple[tuple[str, str, str], ...]
    #: The fields the manifest declares read-only (custom ones as
    #: `custom_fields.<name>`): never sent to the system.
    read_only: frozenset[str] = frozenset()
    #: (unified field, upstream field, the children's field maps)
    children: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = ()

    def to_unified(self, record: dict[str, Any]) -> Record:
        out = _to_unified_fields(self.fields, record)
        for unified, upstream, fields in self.children:
            children = record.get(upstream)
            if isinstance(children, list):
                out[unified] = [_to_unified_fields(fields, c) for c in children]
        return out

    def to_upstream(self, record: Record) -> dict[str, Any]:
        out = _to_upstream_fields(self.fields, record, "", self.read_only)
        for unified, upstream, fields in self.children:
            children = record.get(unified)
            if isinstance(children, list):
                out[upstream] = [
                    _to_upstream_fields(fields, c, f"/{unified}/{i}", frozenset())
                    for i, c in enumerate(children)
                ]
        return out


_TIMESTAMPS = (("created_at", "createdAt", PLAIN), ("updated_at", "updatedAt", PLAIN))

ENTITIES = {
    "vendors": EntityMap(
        "suppliers",
        (
            ("id", "id", ID),
            ("name", "displayName", PLAIN),
            ("email", "contact.email", PLAIN),
            ("phone", "contact.phone", PLAIN),
            ("currency", "currencyCode", PLAIN),
            ("status", "isActive", ACTIVE),
            ("custom_fields", "customFields", PLAIN),
        )
        + _TIMESTAMPS,
        read_only=frozenset({"id", "created_at", "updated_at", "custom_fields.rating"}),
    ),
    "items": EntityMap(
        "products",
        (
            ("id", "id", ID),
            ("code", "sku", PLAIN),
            ("name", "title", PLAIN),
            ("description", "description", PLAIN),
            ("unit", "uom", PLAIN),
            ("unit_price", "price", PLAIN),
            ("type", "kind", PLAIN),
        )
        + _TIMESTAMPS,
        read_only=frozenset({"id", "created_at", "updated_at"}),
    ),
    "purchase-orders": EntityMap(
        "orders",
        (
            ("id", "id", ID),
            ("number", "orderNumber", PLAIN),
            ("vendor_id", "supplierId", ID),
            ("status", "state", PLAIN),
            ("currency", "currencyCode", PLAIN),
            ("memo", "notes", PLAIN),
            ("reference", "externalRef", PLAIN),
        )
        + _TIMESTAMPS,
        frozenset({"id", "number", "status", "created_at", "updated_at"}),
        (
            (
                "lines",
                "lines",
                (
                    ("item_id", "productId", ID),
                    ("description", "text", PLAIN),
                    ("quantity", "qty", PLAIN),
                    ("unit_price", "price", PLAIN),
                ),
            ),
        ),
    ),
}


def entity(name: str) -> EntityMap:
    try:
        return ENTITIES[name]
    except KeyError:
        raise NotFound(f"no entity {name}") from None


def _lookup(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _insert(record: dict[str, Any], path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if not rest:
        record[head] = value
        return
    child = record.setdefault(head, {})
    if isinstance(child, dict):
        _insert(child, rest, value)


def _to_unified_fields(fields: tuple[tuple[str, str, str], ...], record: dict[str, Any]) -> Record:
    out: Record = {}
    for unified, upstream, conv in fields:
        value = _lookup(record, upstream)
        if value is None:
            continue
        if conv == ID and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        elif conv == ACTIVE:
            value = "inactive" if value is False else "active"
        out[unified] = value
    return out


def _to_upstream_fields(
    fields: tuple[tuple[str, str, str], ...], record: Record, prefix: str, read_only: frozenset[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for unified, upstream, conv in fields:
        if unified not in record or unified in read_only:
            continue
        value = record[unified]
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if f"{unified}.{k}" not in read_only}
        if conv == ID and value is not None:
            if not (isinstance(value, str) and value.isdigit()):
                raise Invalid.field(
                    f"{prefix}/{unified}",
                    "invalid_reference",
                    f'`{unified}` must be the id of an existing record, such as "12"',
                )
            value = int(value)
        elif conv == ACTIVE:
            value = value != "inactive"
        _insert(out, upstream, value)
    return out


def map_page(entity_name: str, page: dict[str, Any]) -> Page:
    """One page of the demo API (`{items, offset, hasMore}`) as unified
    records of `entity_name`, with the cursor of the next page."""
    records = [entity(entity_name).to_unified(r) for r in page.get("items") or []]
    next_cursor = None
    if page.get("hasMore") is True:
        next_cursor = str(int(page.get("offset") or 0) + len(records))
    return Page(records, next_cursor)
