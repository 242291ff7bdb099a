//! `writes` and `read-only-fields`, as dry runs: what a write would send.

use super::*;

/// A value of `field`'s type for a record the suite writes.
fn sample(field: &Field) -> Value {
    match &field.kind {
        FieldType::Text => json!("Interlink conformance"),
        FieldType::Integer => json!(1),
        FieldType::Decimal => json!("1.00"),
        FieldType::Boolean => json!(true),
        FieldType::Date => json!("2026-01-02"),
        FieldType::DateTime => json!("2026-01-02T03:04:05Z"),
        FieldType::Enumeration(values) => json!(values.first().cloned().unwrap_or_default()),
        FieldType::Object => json!({}),
    }
}

/// Sets `path` (dotted) in `record` to `value`.
fn set(record: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            record.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let child = record.entry(head).or_insert_with(|| json!({}));
            if let Value::Object(child) = child {
                set(child, rest, value);
            }
        }
    }
}

/// A record the manifest says a create accepts: every required field (a
/// reference set to the first record of the entity it names), and the
/// fewest children each collection needs.
async fn new_record(adapter: &Adapter, ctx: &CallContext, entity: &Entity) -> Value {
    async fn fields(adapter: &Adapter, ctx: &CallContext, fields: &[Field]) -> Map<String, Value> {
        let mut record = Map::new();
        for field in fields
            .iter()
            .filter(|f| f.required && f.access != FieldAccess::ReadOnly)
        {
            let value = match &field.references {
                Some(target) => {
                    let target = adapter
                        .manifest()
                        .entities
                        .iter()
                        .find(|e| &e.name == target);
                    let id = match target {
                        Some(target) => first_id(adapter, ctx, target).await,
                        None => None,
                    };
                    json!(id.unwrap_or_else(|| "1".into()))
                }
                None => sample(field),
            };
            set(&mut record, &field.name, value);
        }
        record
    }
    let mut record = fields(adapter, ctx, &entity.fields).await;
    for ChildCollection {
        name,
        fields: child_fields,
        min_count,
        ..
    } in &entity.children
    {
        let mut children = Vec::new();
        for _ in 0..(*min_count).max(1) {
            children.push(Value::Object(fields(adapter, ctx, child_fields).await));
        }
        record.insert(name.clone(), Value::Array(children));
    }
    Value::Object(record)
}

/// How a dry-run write came out, as a check's words: `None` when it
/// conforms (it answered, or reached a request the host held). Any error
/// does not: the suite's record has every required field, and nothing was
/// sent that the system could refuse.
fn dry_run_problem<T>(operation: &str, answer: Result<T, CallError>) -> Option<String> {
    match answer {
        Ok(_) => None,
        Err(CallError::Adapter(AdapterError::Unsupported { message })) => Some(format!(
            "{operation} is declared but answered `unsupported` ({message})"
        )),
        Err(e) => Some(format!("{operation}: {}", describe(&e))),
    }
}

/// Runs `call` on a fresh instance in a dry run; answers the requests that
/// may change the system which it held instead of sending.
async fn dry_run(
    adapter: &Adapter,
    ctx: &CallContext,
    call: impl AsyncFnOnce(&mut AdapterInstance) -> Result<(), CallError>,
) -> Result<Vec<HeldRequest>, CallError> {
    let mut instance = adapter.instantiate_fresh(ctx.clone()).await?;
    instance.dry_run();
    match call(&mut instance).await {
        Ok(()) | Err(CallError::Held) => Ok(instance.held().to_vec()),
        Err(e) => Err(e),
    }
}

pub(super) async fn writes(
    adapter: &Adapter,
    ctx: &CallContext,
    entity: &Entity,
    id: Option<&str>,
) -> Outcome {
    let name = entity.name.as_str();
    let mut done = Vec::new();
    let mut problems = Vec::new();
    let mut unchecked = Vec::new();
    if can(entity, Operation::Create) {
        let record = new_record(adapter, ctx, entity).await.to_string();
        let answer = dry_run(adapter, ctx, async |i| {
            i.create(name, record).await.map(drop)
        })
        .await;
        problems.extend(dry_run_problem("create", answer));
        done.push("create");
    }
    if let Some(id) = id {
        if can(entity, Operation::Update) {
            let patch = entity
                .fields
                .iter()
                .find(|f| {
                    f.access == FieldAccess::Updatable
                        && f.kind == FieldType::Text
                        && f.references.is_none()
                })
                .map(|f| {
                    let mut patch = Map::new();
                    set(&mut patch, &f.name, json!("Interlink conformance"));
                    Value::Object(patch)
                })
                .unwrap_or_else(|| json!({}));
            let patch = patch.to_string();
            let answer = dry_run(adapter, ctx, async |i| {
                i.update(name, id, patch).await.map(drop)
            })
            .await;
            problems.extend(dry_run_problem("update", answer));
            done.push("update");
        }
        if can(entity, Operation::Delete) {
            let answer = dry_run(adapter, ctx, async |i| i.delete(name, id).await).await;
            problems.extend(dry_run_problem("delete", answer));
            done.push("delete");
        }
    } else {
        unchecked.extend(
            [(Operation::Update, "update"), (Operation::Delete, "delete")]
                .into_iter()
                .filter(|(operation, _)| can(entity, *operation))
                .map(|(_, word)| word),
        );
    }
    if !problems.is_empty() {
        return Outcome::Failed(problems.join("; "));
    }
    match (done.is_empty(), unchecked.is_empty()) {
        (true, true) => Outcome::NotDeclared("no writes declared".into()),
        (_, false) => Outcome::Skipped(format!(
            "{} not checked: no record listed to write to{}",
            unchecked.join(", "),
            if done.is_empty() {
                String::new()
            } else {
                format!("; {} answered (dry runs)", done.join(", "))
            }
        )),
        (false, true) => Outcome::Passed(format!("{} answered (dry runs)", done.join(", "))),
    }
}

pub(super) async fn read_only_fields(
    adapter: &Adapter,
    ctx: &CallContext,
    entity: &Entity,
    id: Option<&str>,
) -> Outcome {
    let read_only: Vec<&Field> = entity
        .fields
        .iter()
        .filter(|f| f.access == FieldAccess::ReadOnly && f.name != "id")
        .collect();
    if !can(entity, Operation::Update) || read_only.is_empty() {
        return Outcome::NotDeclared("no update of a record with read-only fields".into());
    }
    let Some(id) = id else {
        return Outcome::Skipped("no record listed to update".into());
    };
    let mut patch = Map::new();
    for field in &read_only {
        let marker = match field.kind {
            FieldType::Integer | FieldType::Decimal => json!(MARKER_NUMBER),
            FieldType::Date | FieldType::DateTime => json!(MARKER_TIME),
            FieldType::Enumeration(_) | FieldType::Text => json!(MARKER),
            _ => continue,
        };
        set(&mut patch, &field.name, marker);
    }
    let names: Vec<&str> = read_only.iter().map(|f| f.name.as_str()).collect();
    let patch = Value::Object(patch).to_string();
    let answer = dry_run(adapter, ctx, async |i| {
        i.update(&entity.name, id, patch).await.map(drop)
    })
    .await;
    match answer {
        Err(CallError::Adapter(AdapterError::Invalid { .. })) => {
            Outcome::Passed(format!("refused as invalid: {}", names.join(", ")))
        }
        Err(e) => Outcome::Failed(format!(
            "an update with read-only fields must be ignored or refused as `invalid`, not {}",
            describe(&e)
        )),
        Ok(held) => {
            let markers = [
                MARKER.to_string(),
                MARKER_TIME.to_string(),
                MARKER_NUMBER.to_string(),
            ];
            let leaked: Vec<String> = held
                .iter()
                .filter(|r| {
                    r.body
                        .as_deref()
                        .is_some_and(|b| markers.iter().any(|m| b.contains(m.as_str())))
                })
                .map(|r| format!("{} {}", r.method, r.url))
                .collect();
            if leaked.is_empty() {
                Outcome::Passed(format!("ignored: {}", names.join(", ")))
            } else {
                Outcome::Failed(format!(
                    "values of read-only fields ({}) were sent to the system: {}",
                    names.join(", "),
                    leaked.join("; ")
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Before: a dry-run write that failed with any typed error passed, so
    /// an adapter whose every write answered `invalid` or `not-found`
    /// conformed.
    #[test]
    fn a_dry_run_write_conforms_only_when_it_answers_or_is_held() {
        assert_eq!(dry_run_problem("create", Ok(())), None);
        let invalid = CallError::Adapter(AdapterError::Invalid { errors: Vec::new() });
        let problem = dry_run_problem::<()>("create", Err(invalid)).unwrap();
        assert!(
            problem.starts_with("create: validation_failed"),
            "{problem}"
        );
        let not_found = CallError::Adapter(AdapterError::NotFound {
            message: "gone".into(),
        });
        assert!(dry_run_problem::<()>("update", Err(not_found)).is_some());
    }

    /// Before: a skip counted as success, and nothing said which rules a
    /// run could not check.
    #[test]
    fn a_skip_is_unexpected_unless_allowed_by_rule_or_by_rule_and_entity() {
        let mut report = Report::default();
        report.add("get", "vendors", Outcome::Skipped("no record".into()));
        report.add("get", "items", Outcome::Skipped("no record".into()));
        report.add("unauthorized", "", Outcome::Skipped("no wrong".into()));
        report.add("writes", "items", Outcome::NotDeclared("none".into()));
        let unexpected = |allowed: &[&str]| -> Vec<String> {
            let allowed: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
            report
                .unexpected_skips(&allowed)
                .map(|c| format!("{}:{}", c.rule, c.entity))
                .collect()
        };
        assert_eq!(
            unexpected(&[]),
            ["get:vendors", "get:items", "unauthorized:"]
        );
        assert_eq!(unexpected(&["get:items", "unauthorized"]), ["get:vendors"]);
        assert!(unexpected(&["get", "unauthorized"]).is_empty());
        assert!(
            report
                .to_string()
                .ends_with("0 passed, 0 failed, 3 skipped, 1 not declared")
        );
    }

    #[test]
    fn a_record_outside_the_model_is_named_by_its_members() {
        let good = json!({"id": "1", "name": "Acme", "status": "active",
            "custom_fields": {"anything": 1}});
        assert_eq!(record_problem("vendors", &good), None);
        assert_eq!(
            record_problem("vendors", &json!({"id": 1})).as_deref(),
            Some("no string `id`")
        );
        let extra = json!({"id": "1", "nmae": "typo", "address": {"city": "X", "zip": "1"}});
        let problem = record_problem("vendors", &extra).unwrap();
        assert!(problem.contains("/nmae"), "{problem}");
        let wrong = json!({"id": "1", "status": "dormant"});
        let problem = record_problem("vendors", &wrong).unwrap();
        assert!(
            problem.contains("does not match the unified model"),
            "{problem}"
        );
        let line = json!({"id": "1", "lines": [{"quantity": 1, "qty": 2}]});
        let problem = record_problem("purchase-orders", &line).unwrap();
        assert!(problem.contains("/lines/0/qty"), "{problem}");
    }

    #[test]
    fn the_model_knows_the_three_entities() {
        for entity in ["vendors", "items", "purchase-orders"] {
            let members = model_members(entity).unwrap_or_else(|| panic!("{entity}"));
            assert!(members.contains("id"), "{entity}: {members:?}");
        }
        assert!(model_members("echo").is_none());
    }
}
