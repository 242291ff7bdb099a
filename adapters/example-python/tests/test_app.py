"""The operations run natively against the SDK's host double: what the
adapter sends, and what it makes of the answers (the same cases as the Rust
example's unit tests)."""

import unittest

from interlink_sdk import Context, ListRequest
from interlink_sdk.errors import Invalid, RateLimited
from interlink_sdk.testing import TestHost

import mapping
from adapter import ExamplePython

CTX = Context("c1", {"base_url": "https://demo.example/"})


class AdapterTest(unittest.TestCase):
    def test_a_page_is_read_with_the_connections_key_and_mapped(self) -> None:
        with TestHost() as host:
            host.respond(
                "GET",
                "https://demo.example/api/suppliers?offset=0&limit=2",
                200,
                '{"items": [{"id": 1, "displayName": "Acme", "isActive": true},'
                ' {"id": 2, "displayName": "Globex", "isActive": false}], "offset": 0, "hasMore": true}',
            )
            page = ExamplePython().list(CTX, ListRequest("vendors", None, 2))
        self.assertEqual([r["name"] for r in page.records], ["Acme", "Globex"])
        self.assertEqual(page.records[1]["status"], "inactive")
        self.assertEqual(page.records[0]["id"], "1")
        self.assertEqual(page.next_cursor, "2")
        self.assertEqual(host.sent[0].secret_headers, [("Authorization", "api_key")])

    def test_modified_after_is_sent_encoded(self) -> None:
        with TestHost() as host:
            host.respond(
                "GET",
                "https://demo.example/api/orders?offset=4&limit=10&updated_since=2026-01-01T00%3A00%3A00Z",
                200,
                '{"items": [], "offset": 4, "hasMore": false}',
            )
            page = ExamplePython().list(CTX, ListRequest("purchase-orders", "4", 10, "2026-01-01T00:00:00Z"))
        self.assertEqual((page.records, page.next_cursor), ([], None))

    def test_the_systems_429_is_rate_limited_with_its_retry_after(self) -> None:
        with TestHost() as host:
            host.respond("GET", "https://demo.example/api/suppliers/7", 429, "slow down", {"Retry-After": "3"})
            with self.assertRaises(RateLimited) as limited:
                ExamplePython().get(CTX, "vendors", "7")
        self.assertEqual(limited.exception.retry_after_ms, 3000)

    def test_a_create_sends_the_systems_shape(self) -> None:
        with TestHost() as host:
            host.respond(
                "POST",
                "https://demo.example/api/orders",
                201,
                '{"id": 9, "supplierId": 1, "state": "draft", "lines": [{"productId": 3, "qty": 2}]}',
            )
            created = ExamplePython().create(
                CTX, "purchase-orders", {"vendor_id": "1", "lines": [{"item_id": "3", "quantity": 2}]}
            )
        self.assertEqual(created, {"id": "9", "vendor_id": "1", "status": "draft",
                                   "lines": [{"item_id": "3", "quantity": 2}]})
        self.assertEqual(host.sent[0].body, b'{"supplierId":1,"lines":[{"productId":3,"qty":2}]}')


class MappingTest(unittest.TestCase):
    def test_a_vendor_maps_both_ways(self) -> None:
        upstream = {"id": 7, "displayName": "Acme", "contact": {"email": "a@acme.example"}, "isActive": False}
        unified = mapping.entity("vendors").to_unified(upstream)
        self.assertEqual(unified, {"id": "7", "name": "Acme", "email": "a@acme.example", "status": "inactive"})
        del upstream["id"]  # read-only: never sent
        self.assertEqual(mapping.entity("vendors").to_upstream(unified), upstream)

    def test_read_only_fields_are_never_sent(self) -> None:
        patch = {"name": "N", "updated_at": "2026-01-01T00:00:00Z",
                 "custom_fields": {"region": "EMEA", "rating": 5}}
        self.assertEqual(
            mapping.entity("vendors").to_upstream(patch),
            {"displayName": "N", "customFields": {"region": "EMEA"}},
        )

    def test_a_bad_line_reference_names_its_path(self) -> None:
        order = {"vendor_id": "1", "lines": [{"item_id": "x", "quantity": 1}]}
        with self.assertRaises(Invalid) as invalid:
            mapping.entity("purchase-orders").to_upstream(order)
        self.assertEqual(invalid.exception.errors[0].path, "/lines/0/item_id")


if __name__ == "__main__":
    unittest.main()
