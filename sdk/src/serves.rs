//! Typed entity handlers: an adapter implements [`Serves<R>`] for each record
//! type `R` of the unified model it serves ([`crate::model`]), and
//! [`entities!`](crate::entities) writes the [`Adapter`](crate::Adapter)
//! operations that dispatch to them. The adapter then handles `Vendor`s, not
//! JSON objects and entity names.
//!
//! ```ignore
//! use interlink_sdk::model::Vendor;
//! use interlink_sdk::{Records, Serves};
//!
//! impl Serves<Vendor> for Acme {
//!     fn list(ctx: &Context, request: &ListRequest) -> Result<Records<Vendor>> { /* ... */ }
//!     fn create(ctx: &Context, vendor: Vendor) -> Result<Vendor> { /* ... */ }
//! }
//!
//! impl Adapter for Acme {
//!     fn manifest() -> Manifest { /* ... */ }
//!     fn connect(ctx: &Context) -> Result<Account> { /* ... */ }
//!     interlink_sdk::entities!(Vendor);
//! }
//! ```

use crate::model::Record;
use crate::{Context, Error, ListRequest, Page, Result, Value};

/// One page of typed records.
#[derive(Debug, Clone, PartialEq)]
pub struct Records<R> {
    pub records: Vec<R>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// An update: the fields to change, and those the client set to `null`
/// (to clear), which a typed record cannot tell from absent ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch<R> {
    /// The fields to set (`Some`); the others are not changed.
    pub set: R,
    /// The top-level fields to clear, by name (`memo`).
    pub cleared: Vec<String>,
}

/// The operations of one entity, on its typed records. Only `list` is
/// required; the others answer `unsupported` unless implemented.
pub trait Serves<R: Record> {
    /// Reads one page.
    fn list(ctx: &Context, request: &ListRequest) -> Result<Records<R>>;

    /// Reads one record.
    fn get(ctx: &Context, id: &str) -> Result<R> {
        let _ = (ctx, id);
        Err(unsupported::<R>("get"))
    }

    /// Creates a record (with its children), answering it as stored.
    fn create(ctx: &Context, record: R) -> Result<R> {
        let _ = (ctx, record);
        Err(unsupported::<R>("create"))
    }

    /// Sets and clears the fields of `patch`, answering the record as
    /// stored.
    fn update(ctx: &Context, id: &str, patch: Patch<R>) -> Result<R> {
        let _ = (ctx, id, patch);
        Err(unsupported::<R>("update"))
    }

    /// Deletes a record.
    fn delete(ctx: &Context, id: &str) -> Result<()> {
        let _ = (ctx, id);
        Err(unsupported::<R>("delete"))
    }
}

fn unsupported<R: Record>(operation: &str) -> Error {
    Error::unsupported(format!("{operation} is not supported on {}", R::ENTITY))
}

fn to_value<R: Record>(record: &R) -> Result<Value> {
    serde_json::to_value(record)
        .map_err(|e| Error::upstream(0, format!("a record did not serialize: {e}")))
}

fn from_value<R: Record>(value: Value) -> Result<R> {
    serde_json::from_value(value).map_err(|e| {
        Error::invalid(
            "",
            "invalid_value",
            format!("not a record of {}: {e}", R::ENTITY),
        )
    })
}

/// The glue [`entities!`](crate::entities) expands to: one operation of
/// `A`'s handler for `R`, from and to JSON.
#[doc(hidden)]
pub mod dispatch {
    use super::*;

    pub fn list<A: Serves<R>, R: Record>(ctx: &Context, request: &ListRequest) -> Result<Page> {
        let page = A::list(ctx, request)?;
        Ok(Page {
            records: page.records.iter().map(to_value).collect::<Result<_>>()?,
            next_cursor: page.next_cursor,
        })
    }

    pub fn get<A: Serves<R>, R: Record>(ctx: &Context, id: &str) -> Result<Value> {
        to_value(&A::get(ctx, id)?)
    }

    pub fn create<A: Serves<R>, R: Record>(ctx: &Context, record: Value) -> Result<Value> {
        to_value(&A::create(ctx, from_value(record)?)?)
    }

    pub fn update<A: Serves<R>, R: Record>(ctx: &Context, id: &str, patch: Value) -> Result<Value> {
        let cleared = patch
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, value)| value.is_null())
            .map(|(name, _)| name.clone())
            .collect();
        let set = from_value(patch)?;
        to_value(&A::update(ctx, id, Patch { set, cleared })?)
    }

    pub fn delete<A: Serves<R>, R: Record>(ctx: &Context, id: &str) -> Result<()> {
        A::delete(ctx, id)
    }

    /// The error for an entity the adapter does not serve.
    pub fn unknown(entity: &str) -> Error {
        Error::not_found(format!("no entity {entity}"))
    }
}

/// Writes the [`Adapter`](crate::Adapter) operations `list`, `get`,
/// `create`, `update` and `delete` of an adapter that serves the listed
/// record types through [`Serves`]. Use it inside `impl Adapter for ...`.
#[macro_export]
macro_rules! entities {
    ($($record:ty),+ $(,)?) => {
        fn list(ctx: &$crate::Context, request: $crate::ListRequest) -> $crate::Result<$crate::Page> {
            use $crate::model::Record as _;
            $(if request.entity == <$record>::ENTITY {
                return $crate::serves::dispatch::list::<Self, $record>(ctx, &request);
            })+
            Err($crate::serves::dispatch::unknown(&request.entity))
        }

        fn get(ctx: &$crate::Context, entity: &str, id: &str) -> $crate::Result<$crate::Value> {
            use $crate::model::Record as _;
            $(if entity == <$record>::ENTITY {
                return $crate::serves::dispatch::get::<Self, $record>(ctx, id);
            })+
            Err($crate::serves::dispatch::unknown(entity))
        }

        fn create(ctx: &$crate::Context, entity: &str, record: $crate::Value) -> $crate::Result<$crate::Value> {
            use $crate::model::Record as _;
            $(if entity == <$record>::ENTITY {
                return $crate::serves::dispatch::create::<Self, $record>(ctx, record);
            })+
            Err($crate::serves::dispatch::unknown(entity))
        }

        fn update(ctx: &$crate::Context, entity: &str, id: &str, patch: $crate::Value) -> $crate::Result<$crate::Value> {
            use $crate::model::Record as _;
            $(if entity == <$record>::ENTITY {
                return $crate::serves::dispatch::update::<Self, $record>(ctx, id, patch);
            })+
            Err($crate::serves::dispatch::unknown(entity))
        }

        fn delete(ctx: &$crate::Context, entity: &str, id: &str) -> $crate::Result<()> {
            use $crate::model::Record as _;
            $(if entity == <$record>::ENTITY {
                return $crate::serves::dispatch::delete::<Self, $record>(ctx, id);
            })+
            Err($crate::serves::dispatch::unknown(entity))
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::manifest::Manifest;
    use crate::model::{Item, Vendor};
    use crate::{
        Account, Adapter, Context, Error, ListRequest, Patch, Records, Result, Serves, json,
    };

    struct Shop;

    impl Serves<Vendor> for Shop {
        fn list(_: &Context, request: &ListRequest) -> Result<Records<Vendor>> {
            let vendor = Vendor {
                id: Some("1".into()),
                name: Some(format!("page of {}", request.page_size)),
                ..Vendor::default()
            };
            Ok(Records {
                records: vec![vendor],
                next_cursor: None,
            })
        }

        fn create(_: &Context, mut vendor: Vendor) -> Result<Vendor> {
            vendor.id = Some("2".into());
            Ok(vendor)
        }

        fn update(_: &Context, id: &str, patch: Patch<Vendor>) -> Result<Vendor> {
            let mut vendor = Vendor {
                id: Some(id.into()),
                email: Some("old@example.com".into()),
                ..patch.set
            };
            if patch.cleared.iter().any(|f| f == "email") {
                vendor.email = None;
            }
            Ok(vendor)
        }
    }

    impl Serves<Item> for Shop {
        fn list(_: &Context, _: &ListRequest) -> Result<Records<Item>> {
            Ok(Records {
                records: Vec::new(),
                next_cursor: None,
            })
        }
    }

    impl Adapter for Shop {
        fn manifest() -> Manifest {
            Manifest::new("shop", "Shop", "1.0.0")
        }

        fn connect(_: &Context) -> Result<Account> {
            Ok(Account::new("a", "A"))
        }

        crate::entities!(Vendor, Item);
    }

    fn request(entity: &str) -> ListRequest {
        ListRequest {
            entity: entity.into(),
            cursor: None,
            page_size: 5,
            modified_after: None,
        }
    }

    #[test]
    fn entities_route_each_call_to_its_typed_handler() {
        let ctx = Context::new("c1", &[]);
        let page = <Shop as Adapter>::list(&ctx, request("vendors")).unwrap();
        assert_eq!(page.records, [json!({"id": "1", "name": "page of 5"})]);
        assert!(
            <Shop as Adapter>::list(&ctx, request("items"))
                .unwrap()
                .records
                .is_empty()
        );

        let created = <Shop as Adapter>::create(&ctx, "vendors", json!({"name": "New"})).unwrap();
        assert_eq!(created, json!({"id": "2", "name": "New"}));
        match <Shop as Adapter>::create(&ctx, "items", json!({"name": "Bolt"})) {
            Err(Error::Unsupported(message)) => {
                assert_eq!(message, "create is not supported on items")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            <Shop as Adapter>::list(&ctx, request("invoices")),
            Err(Error::NotFound(_))
        ));
        let patch = json!({"name": "Renamed", "email": null});
        let updated = <Shop as Adapter>::update(&ctx, "vendors", "3", patch).unwrap();
        assert_eq!(
            updated,
            json!({"id": "3", "name": "Renamed"}),
            "email cleared"
        );

        match <Shop as Adapter>::create(&ctx, "vendors", json!({"status": "sleeping"})) {
            Err(Error::Invalid(errors)) => assert_eq!(errors[0].code, "invalid_value"),
            other => panic!("{other:?}"),
        }
    }
}
