//! The host double of native unit tests ([`TestHost`]), through the SDK's
//! own calls, as an adapter's tests use it.

use interlink_sdk::http::{Method, Request};
use interlink_sdk::testing::TestHost;
use interlink_sdk::{clock, kv, log};

#[test]
fn answers_come_in_order_the_last_repeats_and_kv_and_clock_are_the_doubles() {
    let host = TestHost::install();
    host.respond(Method::Get, "https://x.example/a", 500, "down")
        .respond(Method::Get, "https://x.example/a", 200, "up");
    let status = || Request::get("https://x.example/a").send().unwrap().status();
    assert_eq!([status(), status(), status()], [500, 200, 200]);
    assert_eq!(host.sent().len(), 3);

    kv::set("token", b"t1", Some(60)).unwrap();
    assert_eq!(kv::get("token").as_deref(), Some(&b"t1"[..]));
    assert_eq!(host.kv("token").as_deref(), Some(&b"t1"[..]));
    kv::delete("token");
    assert_eq!(kv::get("token"), None);

    host.set_now_ms(42_000);
    assert_eq!(clock::now_seconds(), 42);
    log::info("hello", &[]);
    assert_eq!(host.logs(), ["info: hello"]);
}

#[test]
#[should_panic(expected = "the TestHost has no answer for POST https://x.example/b")]
fn a_request_without_an_answer_names_itself() {
    let _host = TestHost::install();
    let _ = Request::post("https://x.example/b").send();
}
