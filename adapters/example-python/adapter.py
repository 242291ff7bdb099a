"""The example adapter, in Python: Interlink's unified vendors, items and
purchase orders over the demo procurement API (`tests/demo-upstream`).

The same adapter as `adapters/example` (Rust), written with the Python SDK:
a manifest that declares the rules, an API key used through a secret
header, table-driven mapping (`mapping.py`), and a passthrough to the demo
API itself. `docs/adapter-guide.md` shows the two side by side.
"""

import interlink_sdk
from interlink_sdk import (
    Account,
    AuthScheme,
    ChildCollection,
    ConfigField,
    Context,
    Entity,
    Field,
    ListRequest,
    Manifest,
    Operation,
    Page,
    Record,
    StateLock,
)
from interlink_sdk.errors import Invalid
from interlink_sdk.http import PassthroughRequest, Request, Response, encode, segment

import mapping

VERSION = "0.1.0"


def url(ctx: Context, path: str) -> str:
    return f"{ctx.config('base_url').rstrip('/')}/api/{path}"


def authed(request: Request) -> Request:
    return request.secret_header("Authorization", "api_key", "Bearer ")


class ExamplePython(interlink_sdk.Adapter):
    #: The query parameter that sizes a page.
    page_size_parameter = "limit"

    @classmethod
    def manifest(cls) -> Manifest:
        return Manifest(
            id="example-python",
            name="Demo Procurement (example, Python)",
            version=VERSION,
            description="The demo procurement API that ships with Interlink's tests, by an adapter written in Python.",
            auth=AuthScheme.API_KEY,
            config=[
                ConfigField.url("base_url", "Where the API is served.", label="API address", placeholder="http://127.0.0.1:8088"),
                ConfigField.text("api_key", "The API key, sent as a bearer token.", secret=True, label="API key", group="Credentials"),
            ],
            outbound_hosts=["{base_url}"],
            max_concurrent_requests=4,
            writes_per_minute=120,
            passthrough=True,
            entities=[vendors(), items(), purchase_orders()],
        )

    def connect(self, ctx: Context) -> Account:
        me = authed(Request.get(url(ctx, "me"))).send().error_for_status().json()
        permissions = [p for p in me.get("permissions") or [] if isinstance(p, str)]
        return Account(str(me.get("accountId", "")), str(me.get("company", "")), permissions)

    def list(self, ctx: Context, request: ListRequest) -> Page:
        entity = mapping.entity(request.entity)
        # The cursor is the next offset, as `map_page` made it.
        cursor = request.cursor or "0"
        if not cursor.isdigit():
            raise Invalid.field("/cursor", "invalid_cursor", "not a cursor of this adapter")
        path = f"{entity.collection}?offset={cursor}&{self.page_size_parameter}={request.page_size}"
        if request.modified_after is not None:
            path += f"&updated_since={encode(request.modified_after)}"
        page = authed(Request.get(url(ctx, path))).send().error_for_status().json()
        return mapping.map_page(request.entity, page)

    def get(self, ctx: Context, entity: str, id: str) -> Record:
        table = mapping.entity(entity)
        path = f"{table.collection}/{segment(id)}"
        return table.to_unified(authed(Request.get(url(ctx, path))).send().error_for_status().json())

    def create(self, ctx: Context, entity: str, record: Record) -> Record:
        table = mapping.entity(entity)
        request = authed(Request.post(url(ctx, table.collection))).json(table.to_upstream(record))
        return table.to_unified(request.send().error_for_status().json())

    def update(self, ctx: Context, entity: str, id: str, patch: Record) -> Record:
        table = mapping.entity(entity)
        path = f"{table.collection}/{segment(id)}"
        request = authed(Request.patch(url(ctx, path))).json(table.to_upstream(patch))
        return table.to_unified(request.send().error_for_status().json())

    def delete(self, ctx: Context, entity: str, id: str) -> None:
        table = mapping.entity(entity)
        authed(Request.delete(url(ctx, f"{table.collection}/{segment(id)}"))).send().error_for_status()

    def passthrough(self, ctx: Context, request: PassthroughRequest) -> Response:
        """The demo API as it is: the path after its base URL, with the
        connection's key, and its answer whatever the status."""
        return authed(request.to(ctx.config("base_url"))).send()


def timestamps() -> list[Field]:
    return [Field.date_time("created_at", read_only=True), Field.date_time("updated_at", read_only=True)]


def vendors() -> Entity:
    return Entity(
        "vendors",
        "Suppliers",
        operations={
            Operation.LIST: ["suppliers:read"],
            Operation.GET: ["suppliers:read"],
            Operation.CREATE: ["suppliers:write"],
            Operation.UPDATE: ["suppliers:write"],
            Operation.DELETE: ["suppliers:write"],
        },
        fields=[
            Field.text("id", read_only=True),
            Field.text("name", required=True),
            Field.text("email"),
            Field.text("phone"),
            Field.text("currency", create_only=True),
            Field.enumeration("status", ["active", "inactive"]),
            Field.object("custom_fields"),
            Field.text("custom_fields.region", custom=True),
            Field.integer("custom_fields.rating", custom=True, read_only=True),
            *timestamps(),
        ],
    )


def items() -> Entity:
    return Entity(
        "items",
        "Products",
        operations={
            Operation.LIST: ["products:read"],
            Operation.GET: ["products:read"],
            Operation.CREATE: ["products:write"],
            Operation.UPDATE: ["products:write"],
        },
        fields=[
            Field.text("id", read_only=True),
            Field.text("code", required=True, create_only=True),
            Field.text("name", required=True),
            Field.text("description"),
            Field.text("unit"),
            Field.decimal("unit_price"),
            Field.enumeration("type", ["inventory", "non_inventory", "service"]),
            *timestamps(),
        ],
    )


def purchase_orders() -> Entity:
    return Entity(
        "purchase-orders",
        "Orders to suppliers",
        operations={
            Operation.LIST: ["orders:read"],
            Operation.GET: ["orders:read"],
            Operation.CREATE: ["orders:write"],
            Operation.UPDATE: ["orders:write"],
            Operation.DELETE: ["orders:write"],
        },
        fields=[
            Field.text("id", read_only=True),
            Field.text("number", read_only=True),
            Field.text("vendor_id", required=True, create_only=True, references="vendors"),
            Field.enumeration("status", ["draft", "open", "billed", "closed"], read_only=True),
            Field.text("currency", create_only=True),
            Field.text("memo"),
            Field.text("reference"),
            *timestamps(),
        ],
        children=[
            ChildCollection(
                "lines",
                "Ordered items",
                [
                    Field.text("item_id", references="items"),
                    Field.text("description"),
                    Field.decimal("quantity", required=True),
                    Field.decimal("unit_price"),
                ],
                create_with_parent=True,
                min_count=1,
            )
        ],
        state_locks=[
            StateLock(
                "status",
                ["billed", "closed"],
                all_fields_except=["memo"],
                operations=[Operation.DELETE],
                reason="billed and closed orders are final",
            )
        ],
    )
