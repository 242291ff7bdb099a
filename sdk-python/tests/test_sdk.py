"""The SDK's own behaviour, natively, with the host's imports answered by
`TestHost`: what crosses the contract for each kind of value."""

import unittest

from componentize_py_types import Err
from wit_world.imports import types as wit

from interlink_sdk import (
    Account,
    Adapter,
    ChildCollection,
    Context,
    Entity,
    Field,
    ListRequest,
    Manifest,
    Operation,
    Page,
    StateLock,
    export,
    kv,
    log,
)
from interlink_sdk.errors import Invalid, RateLimited, Unauthorized, Upstream
from interlink_sdk.http import Request, Response, retry_after_ms, segment
from interlink_sdk.testing import TestHost


class Tiny(Adapter):
    @classmethod
    def manifest(cls) -> Manifest:
        return Manifest(
            id="tiny",
            name="Tiny",
            version="1.0.0",
            entities=[
                Entity(
                    "purchase-orders",
                    "Orders",
                    operations={Operation.LIST: ["orders:read"]},
                    fields=[
                        Field.text("id", read_only=True),
                        Field.text("vendor_id", required=True, create_only=True, references="vendors"),
                        Field.enumeration("status", ["open", "billed"]),
                    ],
                    children=[
                        ChildCollection(
                            "lines", "Lines", [Field.decimal("quantity", required=True)],
                            create_with_parent=True, min_count=1,
                        )
                    ],
                    state_locks=[
                        StateLock("status", ["billed"], all_fields_except=["memo"],
                                  operations=[Operation.DELETE], reason="final")
                    ],
                )
            ],
        )

    def list(self, ctx: Context, request: ListRequest) -> Page:
        if request.entity == "broken":
            raise KeyError("a bug")
        ctx.config("base_url")
        return Page([{"id": "1", "cursor": request.cursor}], next_cursor="2")


class ManifestTest(unittest.TestCase):
    def test_the_manifest_crosses_as_the_contracts_types(self) -> None:
        manifest = export(Tiny)().describe()
        self.assertEqual(manifest.contract_version, "0.4.0")
        self.assertEqual(manifest.limits, wit.RateLimits(4, None))
        entity = manifest.entities[0]
        self.assertEqual(entity.operations, [wit.OperationPermissions(wit.Operation.LIST, ["orders:read"])])
        vendor = entity.fields[1]
        self.assertEqual(
            (vendor.access, vendor.required, vendor.references),
            (wit.FieldAccess.CREATE_ONLY, True, "vendors"),
        )
        self.assertEqual(entity.fields[0].access, wit.FieldAccess.READ_ONLY)
        self.assertEqual(entity.fields[2].type, wit.FieldType_Enumeration(["open", "billed"]))
        self.assertEqual(entity.children[0].min_count, 1)
        lock = entity.state_locks[0]
        self.assertEqual(lock.locked_fields, wit.FieldSelection_AllExcept(["memo"]))
        self.assertEqual(lock.locked_operations, [wit.Operation.DELETE])

    def test_a_field_is_not_both_read_only_and_create_only(self) -> None:
        with self.assertRaises(ValueError):
            Field.text("x", read_only=True, create_only=True)

    def test_an_account_carries_its_custom_fields(self) -> None:
        account = Account("a1", "Acme", ["x"], [("vendors", Field.text("custom_fields.region", custom=True))])
        self.assertEqual(account.to_wit().custom_fields[0].field.name, "custom_fields.region")


def call_context(**config: str) -> wit.CallContext:
    return wit.CallContext("c1", [wit.ConfigValue(k, v) for k, v in config.items()])


class ExportTest(unittest.TestCase):
    def test_records_cross_as_json_and_typed_errors_as_adapter_errors(self) -> None:
        exported = export(Tiny)()
        page = exported.list(call_context(base_url="x"), wit.ListRequest("orders", "1", 10, None))
        self.assertEqual(page.records, ['{"id":"1","cursor":"1"}'])
        self.assertEqual(page.next_cursor, "2")
        with self.assertRaises(Err) as missing:
            exported.list(call_context(), wit.ListRequest("orders", None, 10, None))
        self.assertEqual(
            missing.exception.value,
            wit.AdapterError_Invalid([wit.FieldError("/config/base_url", "required",
                                                     "the connection has no `base_url` config value")]),
        )
        with self.assertRaises(Err) as unsupported:
            exported.get(call_context(), "orders", "1")
        self.assertIsInstance(unsupported.exception.value, wit.AdapterError_Unsupported)

    def test_a_bug_is_logged_with_its_traceback_and_raised(self) -> None:
        with TestHost() as host:
            with self.assertRaises(KeyError):
                export(Tiny)().list(call_context(), wit.ListRequest("broken", None, 10, None))
        level, message, fields = host.logs[0]
        self.assertEqual((level, message), ("error", "KeyError: 'a bug'"))
        self.assertIn("Traceback", fields["traceback"])


class HttpTest(unittest.TestCase):
    def test_a_request_carries_secret_headers_by_name(self) -> None:
        with TestHost() as host:
            host.respond("POST", "https://x.example/a", 201, '{"ok": true}')
            answer = Request.post("https://x.example/a").secret_header("Authorization", "api_key", "Bearer ") \
                .json({"a": 1}).send()
        self.assertEqual(answer.json(), {"ok": True})
        sent = host.sent[0]
        self.assertEqual(sent.secret_headers, [("Authorization", "api_key")])
        self.assertEqual(sent.body, b'{"a":1}')
        self.assertIn(("Content-Type", "application/json"), sent.headers)

    def test_failure_statuses_become_typed_errors(self) -> None:
        with self.assertRaises(Unauthorized):
            Response.new(401, b"no").error_for_status()
        with self.assertRaises(Upstream) as failed:
            Response.new(502, b"x" * 1000).error_for_status()
        self.assertEqual((failed.exception.status, len(failed.exception.message)), (502, 300))
        with TestHost() as host:
            host.now_ms = 1_445_412_450_000  # 2015-10-21T07:27:30Z
            with self.assertRaises(RateLimited) as limited:
                Response.new(429, b"", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}).error_for_status()
        self.assertEqual(limited.exception.retry_after_ms, 30_000)

    def test_retry_after_reads_seconds_or_a_date(self) -> None:
        now = 1_445_412_450_000
        self.assertEqual(retry_after_ms("120", now), 120_000)
        self.assertEqual(retry_after_ms("Wed, 21 Oct 2015 07:27:00 GMT", now), 0)
        self.assertIsNone(retry_after_ms("soon", now))
        self.assertIsNone(retry_after_ms("-5", now))

    def test_a_host_refusal_is_an_upstream_error_with_status_0(self) -> None:
        with TestHost():
            with self.assertRaises(Upstream) as refused:
                Request.get("https://nowhere.example/").send()
        self.assertEqual(refused.exception.status, 0)

    def test_an_id_never_climbs_a_path(self) -> None:
        self.assertEqual(segment("a/b?c"), "a%2Fb%3Fc")
        with self.assertRaises(Invalid):
            segment("..")


class ImportsTest(unittest.TestCase):
    def test_kv_and_log_go_to_the_host(self) -> None:
        with TestHost() as host:
            kv.set("token", b"t", ttl_seconds=60)
            self.assertEqual(kv.get("token"), b"t")
            kv.delete("token")
            self.assertIsNone(kv.get("token"))
            log.info("hello", entity="vendors", page=2)
        self.assertEqual(host.logs, [("info", "hello", {"entity": "vendors", "page": "2"})])


if __name__ == "__main__":
    unittest.main()
