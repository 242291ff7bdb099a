//! `list`, `pagination`, `modified-after` and `get`: what reading gives.

use super::*;

pub(super) fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r["id"].as_str().map(String::from))
        .collect()
}

pub(super) async fn page_of(
    adapter: &Adapter,
    ctx: &CallContext,
    request: &ListRequest,
) -> Result<(Vec<Value>, Option<String>), CallError> {
    let page = adapter.list(ctx.clone(), request).await?;
    let records = page
        .records
        .iter()
        .map(|r| serde_json::from_str(r.get()).unwrap_or(Value::Null))
        .collect();
    Ok((records, page.next_cursor))
}

/// Follows the cursors with small pages; answers every record when the
/// walk ended within [`MAX_PAGES`] and matched one large page.
pub(super) async fn pagination(
    adapter: &Adapter,
    ctx: &CallContext,
    entity: &str,
    report: &mut Report,
) -> Option<Vec<Value>> {
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut complete = false;
    for page in 1..=MAX_PAGES {
        let request = list_request(entity, cursor.clone(), SMALL_PAGE);
        let (records, next) = match page_of(adapter, ctx, &request).await {
            Ok(answer) => answer,
            Err(e) => {
                let at = cursor.map_or("the first page".into(), |c| format!("cursor {c:?}"));
                report.add(
                    "pagination",
                    entity,
                    Outcome::Failed(format!("page {page} ({at}): {}", describe(&e))),
                );
                return None;
            }
        };
        for id in ids(&records) {
            if seen.contains(&id) {
                let at = cursor.map_or("the first page".into(), |c| format!("cursor {c:?}"));
                report.add(
                    "pagination",
                    entity,
                    Outcome::Failed(format!(
                        "record {id:?} came again on page {page} ({at}): a cursor must move past the records it has given"
                    )),
                );
                return None;
            }
            seen.push(id);
        }
        match next {
            None => {
                complete = true;
                break;
            }
            Some(next) if Some(&next) == cursor.as_ref() => {
                report.add(
                    "pagination",
                    entity,
                    Outcome::Failed(format!(
                        "page {page} answered the cursor it was given ({next:?}): the walk would never end"
                    )),
                );
                return None;
            }
            Some(next) => cursor = Some(next),
        }
    }
    if !complete || seen.len() > LARGE_PAGE as usize {
        report.add(
            "pagination",
            entity,
            Outcome::Passed(format!(
                "{} records in {MAX_PAGES} pages, none twice (not compared with a large page: more than {LARGE_PAGE})",
                seen.len()
            )),
        );
        return None;
    }
    let large = match page_of(adapter, ctx, &list_request(entity, None, LARGE_PAGE)).await {
        Ok((records, _)) => records,
        Err(e) => {
            report.add(
                "pagination",
                entity,
                Outcome::Failed(format!("one page of {LARGE_PAGE}: {}", describe(&e))),
            );
            return None;
        }
    };
    let lost: Vec<String> = ids(&large)
        .into_iter()
        .filter(|id| !seen.contains(id))
        .collect();
    if lost.is_empty() {
        report.add(
            "pagination",
            entity,
            Outcome::Passed(format!(
                "{} records in pages of {SMALL_PAGE}, each once, as in one page of {LARGE_PAGE}",
                seen.len()
            )),
        );
        Some(large)
    } else {
        report.add(
            "pagination",
            entity,
            Outcome::Failed(format!(
                "pages of {SMALL_PAGE} lost records one page of {LARGE_PAGE} has: {}",
                lost.join(", ")
            )),
        );
        None
    }
}

/// Lists with `modified_after` set to the middle of `all`'s update times.
pub(super) async fn modified_after(
    adapter: &Adapter,
    ctx: &CallContext,
    entity: &str,
    all: &[Value],
) -> Outcome {
    let times = |records: &[Value]| -> Vec<(String, time::OffsetDateTime)> {
        records
            .iter()
            .filter_map(|r| {
                let at = crate::timestamps::parse(r["updated_at"].as_str()?)?;
                Some((r["id"].as_str()?.to_string(), at))
            })
            .collect()
    };
    let mut stamped = times(all);
    stamped.sort_by_key(|(_, at)| *at);
    stamped.dedup_by_key(|(_, at)| *at);
    if stamped.len() < 2 {
        return Outcome::Skipped("fewer than two distinct update times to filter between".into());
    }
    // The upper middle: with two distinct times, the later one, so that
    // the earlier records must be left out.
    let (_, middle) = stamped[stamped.len() / 2];
    let since = crate::timestamps::micros(middle);
    let request = ListRequest {
        modified_after: Some(since.clone()),
        ..list_request(entity, None, LARGE_PAGE)
    };
    let filtered = match page_of(adapter, ctx, &request).await {
        Ok((records, _)) => records,
        Err(e) => return Outcome::Failed(describe(&e)),
    };
    let kept = times(&filtered);
    let before: Vec<&str> = kept
        .iter()
        .filter(|(_, at)| *at < middle)
        .map(|(id, _)| id.as_str())
        .collect();
    if !before.is_empty() {
        return Outcome::Failed(format!(
            "modified after {since}: records modified before it came back: {}",
            before.join(", ")
        ));
    }
    let kept_ids: Vec<&str> = kept.iter().map(|(id, _)| id.as_str()).collect();
    let lost: Vec<String> = times(all)
        .into_iter()
        .filter(|(id, at)| *at > middle && !kept_ids.contains(&id.as_str()))
        .map(|(id, _)| id)
        .collect();
    if !lost.is_empty() {
        return Outcome::Failed(format!(
            "modified after {since}: records modified after it are missing: {}",
            lost.join(", ")
        ));
    }
    Outcome::Passed(format!(
        "{} of {} records modified after {since}",
        kept.len(),
        all.len()
    ))
}

pub(super) async fn first_id(
    adapter: &Adapter,
    ctx: &CallContext,
    entity: &Entity,
) -> Option<String> {
    if !can(entity, Operation::List) {
        return None;
    }
    let (records, _) = page_of(adapter, ctx, &list_request(&entity.name, None, 1))
        .await
        .ok()?;
    ids(&records).into_iter().next()
}

pub(super) async fn get(
    adapter: &Adapter,
    ctx: &CallContext,
    entity: &Entity,
    id: Option<&str>,
) -> Outcome {
    if !can(entity, Operation::Get) {
        return Outcome::NotDeclared("get is not declared".into());
    }
    let name = &entity.name;
    if let Some(id) = id {
        match adapter.get(ctx.clone(), name, id).await {
            Err(e) => return Outcome::Failed(format!("get {id:?}: {}", describe(&e))),
            Ok(record) => {
                let record: Value = serde_json::from_str(record.get()).unwrap_or(Value::Null);
                if record["id"] != id {
                    return Outcome::Failed(format!(
                        "get {id:?} answered the record {}",
                        record["id"]
                    ));
                }
                if let Some(problem) = record_problem(name, &record) {
                    return Outcome::Failed(format!("get {id:?}: {problem}"));
                }
            }
        }
    }
    match adapter.get(ctx.clone(), name, MISSING_ID).await {
        Err(CallError::Adapter(AdapterError::NotFound { .. })) => match id {
            Some(id) => Outcome::Passed(format!("{id:?} read back; {MISSING_ID:?} not found")),
            None => Outcome::Skipped(format!(
                "no record listed to read back ({MISSING_ID:?} was not found, as it should)"
            )),
        },
        Ok(_) => Outcome::Failed(format!("{MISSING_ID:?}, which should not exist, was found")),
        Err(e) => Outcome::Failed(format!(
            "a missing record must be `not-found`, not {}",
            describe(&e)
        )),
    }
}
