//! Writing people, events and attendances: validation, identifiers,
//! derived fields, and the change log, in one transaction per request (or
//! per import batch). The HTTP handlers and import both come through here.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use turnout_core::Clock;
use turnout_core::problem::FieldError;
use turnout_core::store::StoreError;

use crate::model::resources::{
    AttendanceStatus, EVENT_FIELDS, EventInput, PERSON_FIELDS, PersonInput,
};
use crate::model::{Attendance, Event, Person};
use crate::store::{AttendanceRow, RecordKind, RecordWrite, SearchStore, WriteTx};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for WriteError {
    fn from(e: sqlx::Error) -> Self {
        WriteError::Store(StoreError::Database(e))
    }
}

/// What a person and an event have in common as stored records.
pub trait Resource: Serialize + DeserializeOwned + Clone + PartialEq + Send + Sync {
    type Input: Send;
    const KIND: RecordKind;
    /// The writable fields, as accepted by `POST` and merged by `PATCH`.
    const EDITABLE: &'static [&'static str];

    fn parse(body: &Map<String, Value>) -> Result<Self::Input, Vec<FieldError>>;
    fn identifiers(input: &Self::Input) -> &[String];
    fn timezone_given(input: &Self::Input) -> bool;
    fn build(
        id: i64,
        input: Self::Input,
        previous: Option<&Self>,
        taken: &dyn Fn(i64) -> u32,
        created: DateTime<Utc>,
        modified: DateTime<Utc>,
    ) -> Self;
    fn id(&self) -> i64;
    fn created(&self) -> DateTime<Utc>;
    fn modified(&self) -> DateTime<Utc>;
    fn set_modified(&mut self, at: DateTime<Utc>);

    /// The stored record as a body `PATCH` can merge into: the editable
    /// fields only, without the timezone when it was derived (so that a
    /// new address derives a new one).
    fn editable(&self, timezone_given: bool) -> Map<String, Value> {
        let Value::Object(mut doc) = serde_json::to_value(self).expect("records serialise") else {
            unreachable!("records serialise to objects")
        };
        doc.retain(|k, v| Self::EDITABLE.contains(&k.as_str()) && !v.is_null());
        if !timezone_given {
            doc.remove("timezone");
        }
        if let Some(Value::Array(slots)) = doc.get_mut("timeslots") {
            for s in slots {
                if let Value::Object(s) = s {
                    s.remove("is_full");
                    s.retain(|_, v| !v.is_null());
                }
            }
        }
        doc
    }
}

impl Resource for Person {
    type Input = PersonInput;
    const KIND: RecordKind = RecordKind::Person;
    const EDITABLE: &'static [&'static str] = &PERSON_FIELDS;

    fn parse(body: &Map<String, Value>) -> Result<PersonInput, Vec<FieldError>> {
        PersonInput::parse(body)
    }
    fn identifiers(input: &PersonInput) -> &[String] {
        &input.identifiers
    }
    fn timezone_given(input: &PersonInput) -> bool {
        input.timezone.is_some()
    }
    fn build(
        id: i64,
        input: PersonInput,
        _previous: Option<&Self>,
        _taken: &dyn Fn(i64) -> u32,
        created: DateTime<Utc>,
        modified: DateTime<Utc>,
    ) -> Self {
        Person::new(id, input, created, modified)
    }
    fn id(&self) -> i64 {
        self.id
    }
    fn created(&self) -> DateTime<Utc> {
        self.created_date
    }
    fn modified(&self) -> DateTime<Utc> {
        self.modified_date
    }
    fn set_modified(&mut self, at: DateTime<Utc>) {
        self.modified_date = at;
    }
}

impl Resource for Event {
    type Input = EventInput;
    const KIND: RecordKind = RecordKind::Event;
    const EDITABLE: &'static [&'static str] = &EVENT_FIELDS;

    fn parse(body: &Map<String, Value>) -> Result<EventInput, Vec<FieldError>> {
        EventInput::parse(body)
    }
    fn identifiers(input: &EventInput) -> &[String] {
        &input.identifiers
    }
    fn timezone_given(input: &EventInput) -> bool {
        input.timezone.is_some()
    }
    fn build(
        id: i64,
        input: EventInput,
        previous: Option<&Self>,
        taken: &dyn Fn(i64) -> u32,
        created: DateTime<Utc>,
        modified: DateTime<Utc>,
    ) -> Self {
        Event::new(id, input, previous, taken, created, modified)
    }
    fn id(&self) -> i64 {
        self.id
    }
    fn created(&self) -> DateTime<Utc> {
        self.created_date
    }
    fn modified(&self) -> DateTime<Utc> {
        self.modified_date
    }
    fn set_modified(&mut self, at: DateTime<Utc>) {
        self.modified_date = at;
    }
}

/// What happened to one record of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Created(i64),
    Updated(i64),
    Unchanged(i64),
}

/// One record of an upsert batch: a body, and whether it must match an
/// existing record (`PATCH`) or may create one (`POST`, import).
pub struct Upsert {
    pub body: Map<String, Value>,
    /// `Some(id)`: edit this record (404 if gone). `None`: match on
    /// identifiers, else create.
    pub target: Option<i64>,
    /// `POST` refuses identifiers that name an existing record; import
    /// merges into it.
    pub merge_on_identifiers: bool,
}

#[derive(Clone)]
pub struct Records {
    pub store: SearchStore,
    clock: Arc<dyn Clock>,
}

impl Records {
    pub fn new(store: SearchStore, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    fn now(&self) -> (DateTime<Utc>, i64) {
        let ms = self.clock.now_nanos().div_euclid(1_000_000);
        (millis(ms), ms)
    }

    pub async fn get<R: Resource>(&self, id: i64) -> Result<Option<R>, WriteError> {
        match self.store.get(R::KIND, id).await? {
            Some(s) => Ok(Some(
                serde_json::from_str(&s.doc).map_err(StoreError::from)?,
            )),
            None => Ok(None),
        }
    }

    pub async fn create<R: Resource>(&self, body: Map<String, Value>) -> Result<R, WriteError> {
        let outcome = self
            .upsert::<R>(&[Upsert {
                body,
                target: None,
                merge_on_identifiers: false,
            }])
            .await?;
        self.single(outcome).await
    }

    pub async fn update<R: Resource>(
        &self,
        id: i64,
        body: Map<String, Value>,
    ) -> Result<R, WriteError> {
        let outcome = self
            .upsert::<R>(&[Upsert {
                body,
                target: Some(id),
                merge_on_identifiers: false,
            }])
            .await?;
        self.single(outcome).await
    }

    async fn single<R: Resource>(
        &self,
        mut outcome: Vec<Result<Applied, WriteError>>,
    ) -> Result<R, WriteError> {
        let id = match outcome.pop().expect("one record in, one out")? {
            Applied::Created(id) | Applied::Updated(id) | Applied::Unchanged(id) => id,
        };
        self.get(id).await?.ok_or(WriteError::NotFound)
    }

    /// Applies a batch in one transaction. Each record's own problems
    /// (validation, a conflicting identifier, a missing target) are its
    /// own result and do not stop the others; a store failure fails the
    /// whole batch, and nothing of it is written.
    pub async fn upsert<R: Resource>(
        &self,
        batch: &[Upsert],
    ) -> Result<Vec<Result<Applied, WriteError>>, WriteError> {
        let (now, now_ms) = self.now();
        let mut w = self.store.begin().await?;

        // Everything the batch refers to, read in a few statements.
        let all_identifiers: Vec<String> = batch
            .iter()
            .filter_map(|u| u.body.get("identifiers")?.as_array().cloned())
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        let mut named = self
            .store
            .find_identifiers(&mut w, R::KIND, &all_identifiers)
            .await?;
        let mut wanted: Vec<i64> = batch.iter().filter_map(|u| u.target).collect();
        wanted.extend(named.values().copied());
        let mut existing: HashMap<i64, (R, bool)> = HashMap::new();
        for (id, s) in self.store.get_many(&mut w, R::KIND, &wanted).await? {
            let doc: R = serde_json::from_str(&s.doc).map_err(StoreError::from)?;
            existing.insert(id, (doc, s.timezone_given));
        }
        let taken = if R::KIND == RecordKind::Event {
            self.store.taken_places(&mut w, &wanted).await?
        } else {
            HashMap::new()
        };

        let new_count = batch.iter().filter(|u| u.target.is_none()).count();
        let mut next_id = if new_count > 0 {
            self.store.allocate_ids(&mut w, new_count).await?
        } else {
            0
        };

        let mut results = Vec::with_capacity(batch.len());
        // Last write per id wins within a batch; keep batch order.
        let mut writes: Vec<RecordWrite> = Vec::new();
        let mut write_index: HashMap<i64, usize> = HashMap::new();
        for u in batch {
            let r = self.plan_one::<R>(
                u,
                &mut named,
                &mut existing,
                &taken,
                &mut next_id,
                now,
                now_ms,
            );
            match r {
                Ok((applied, write)) => {
                    if let Some(write) = write {
                        match write_index.get(&write.id) {
                            Some(&i) => writes[i] = write,
                            None => {
                                write_index.insert(write.id, writes.len());
                                writes.push(write);
                            }
                        }
                    }
                    results.push(Ok(applied));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        match self.store.write(&mut w, R::KIND, &writes).await {
            Ok(()) => {}
            Err(StoreError::Conflict(what)) => return Err(WriteError::Conflict(what)),
            Err(e) => return Err(e.into()),
        }
        w.commit().await?;
        Ok(results)
    }

    #[allow(clippy::too_many_arguments)]
    fn plan_one<R: Resource>(
        &self,
        u: &Upsert,
        named: &mut HashMap<String, i64>,
        existing: &mut HashMap<i64, (R, bool)>,
        taken: &HashMap<(i64, i64), u32>,
        next_id: &mut i64,
        now: DateTime<Utc>,
        now_ms: i64,
    ) -> Result<(Applied, Option<RecordWrite>), WriteError> {
        // Which record this body is about.
        let matched: Vec<i64> = {
            let mut ids: Vec<i64> = u
                .body
                .get("identifiers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| named.get(v.as_str()?).copied())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let target = match u.target {
            Some(id) => {
                if !existing.contains_key(&id) {
                    return Err(WriteError::NotFound);
                }
                if matched.iter().any(|m| *m != id) {
                    return Err(taken_identifier());
                }
                Some(id)
            }
            None => match matched.as_slice() {
                [] => None,
                [id] if u.merge_on_identifiers => Some(*id),
                [_] => return Err(taken_identifier()),
                _ => {
                    return Err(WriteError::Conflict(
                        "these identifiers name more than one record".into(),
                    ));
                }
            },
        };

        let (id, body, previous) = match target {
            Some(id) => {
                let (prev, tz_given) = existing.get(&id).ok_or(WriteError::NotFound)?;
                let mut merged = prev.editable(*tz_given);
                for (k, v) in &u.body {
                    merged.insert(k.clone(), v.clone());
                }
                if u.merge_on_identifiers {
                    // Import adds identifiers; it never drops one.
                    let mut ids: Vec<Value> = prev
                        .editable(true)
                        .get("identifiers")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    for v in merged
                        .get("identifiers")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                    {
                        if !ids.contains(&v) {
                            ids.push(v);
                        }
                    }
                    merged.insert("identifiers".into(), Value::Array(ids));
                }
                (id, Cow::Owned(merged), Some(prev.clone()))
            }
            None => {
                *next_id += 1;
                (*next_id - 1, Cow::Borrowed(&u.body), None)
            }
        };

        let input = R::parse(&body).map_err(WriteError::Invalid)?;
        let tz_given = R::timezone_given(&input);
        let identifiers = R::identifiers(&input).to_vec();
        let count = |slot: i64| taken.get(&(id, slot)).copied().unwrap_or(0);
        let (created, applied) = match &previous {
            Some(p) => (p.created(), Applied::Updated(id)),
            None => (now, Applied::Created(id)),
        };
        let mut doc = R::build(
            id,
            input,
            previous.as_ref(),
            &count,
            created,
            previous.as_ref().map_or(now, |p| p.modified()),
        );
        if let Some(prev) = &previous
            && *prev == doc
            && existing.get(&id).is_some_and(|(_, g)| *g == tz_given)
        {
            return Ok((Applied::Unchanged(id), None));
        }
        doc.set_modified(now);
        for i in &identifiers {
            named.insert(i.clone(), id);
        }
        let json = serde_json::to_string(&doc).map_err(StoreError::from)?;
        existing.insert(id, (doc, tz_given));
        Ok((
            applied,
            Some(RecordWrite {
                id,
                doc: json,
                timezone_given: tz_given,
                created_at: created.timestamp_millis(),
                modified_at: now_ms,
                identifiers,
            }),
        ))
    }

    pub async fn delete<R: Resource>(&self, id: i64) -> Result<(), WriteError> {
        let (now, now_ms) = self.now();
        let mut w = self.store.begin().await?;
        let touched = self
            .store
            .delete(&mut w, R::KIND, id, now_ms)
            .await?
            .ok_or(WriteError::NotFound)?;
        for event_id in touched {
            self.refresh_event(&mut w, event_id, now).await?;
        }
        w.commit().await?;
        Ok(())
    }

    /// Re-derives an event's `is_full` flags after its attendances moved.
    async fn refresh_event(
        &self,
        w: &mut WriteTx,
        event_id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), WriteError> {
        let Some(s) = self
            .store
            .get_many(w, RecordKind::Event, &[event_id])
            .await?
            .remove(&event_id)
        else {
            return Ok(());
        };
        let mut event: Event = serde_json::from_str(&s.doc).map_err(StoreError::from)?;
        let taken = self.store.taken_places(w, &[event_id]).await?;
        let before = event.clone();
        event.refresh_full(&|slot| taken.get(&(event_id, slot)).copied().unwrap_or(0));
        if event != before {
            event.modified_date = now;
            let json = serde_json::to_string(&event).map_err(StoreError::from)?;
            self.store
                .rewrite_doc(w, event_id, &json, now.timestamp_millis())
                .await?;
        }
        Ok(())
    }

    /// Registers a person for a timeslot; registering again returns the
    /// existing attendance, with its status set to the one given.
    pub async fn attend(
        &self,
        event_id: i64,
        body: &Map<String, Value>,
    ) -> Result<(Attendance, bool), WriteError> {
        let mut errors = FieldError::unknown_fields(body, &["person_id", "timeslot_id", "status"]);
        let person_id = body.get("person_id").and_then(Value::as_i64);
        if person_id.is_none() {
            errors.push(FieldError::new("person_id", "is required: a person's id"));
        }
        let timeslot_id = body.get("timeslot_id").and_then(Value::as_i64);
        if timeslot_id.is_none() {
            errors.push(FieldError::new(
                "timeslot_id",
                "is required: one of the event's timeslot ids",
            ));
        }
        let status = parse_status(body, &mut errors).unwrap_or(AttendanceStatus::Registered);
        let (Some(person_id), Some(timeslot_id)) = (person_id, timeslot_id) else {
            return Err(WriteError::Invalid(errors));
        };
        let (now, now_ms) = self.now();
        let mut w = self.store.begin().await?;
        let Some(event) = self
            .store
            .get_many(&mut w, RecordKind::Event, &[event_id])
            .await?
            .remove(&event_id)
        else {
            return Err(WriteError::NotFound);
        };
        let event: Event = serde_json::from_str(&event.doc).map_err(StoreError::from)?;
        let slot = event.timeslots.iter().find(|t| t.id == timeslot_id);
        if slot.is_none() {
            errors.push(FieldError::new(
                "timeslot_id",
                "is not a timeslot of this event",
            ));
        }
        if self
            .store
            .get_many(&mut w, RecordKind::Person, &[person_id])
            .await?
            .is_empty()
        {
            errors.push(FieldError::new("person_id", "no such person"));
        }
        if !errors.is_empty() {
            return Err(WriteError::Invalid(errors));
        }
        let previous = self
            .store
            .attendance_in(&mut w, event_id, timeslot_id, person_id)
            .await?;
        let gains_place = status.takes_place()
            && previous.as_ref().is_none_or(|p| {
                !AttendanceStatus::parse(&p.status).is_some_and(|s| s.takes_place())
            });
        if gains_place && slot.is_some_and(|s| s.is_full) {
            return Err(WriteError::Conflict("this timeslot is full".into()));
        }
        let created = previous.is_none();
        let row = match previous {
            Some(mut p) => {
                p.status = status.as_str().to_string();
                p.modified_at = now_ms;
                p
            }
            None => AttendanceRow {
                id: self.store.allocate_ids(&mut w, 1).await?,
                event_id,
                timeslot_id,
                person_id,
                status: status.as_str().to_string(),
                attended: false,
                created_at: now_ms,
                modified_at: now_ms,
            },
        };
        self.store.put_attendance(&mut w, &row).await?;
        self.refresh_event(&mut w, event_id, now).await?;
        w.commit().await?;
        Ok((attendance_view(&row)?, created))
    }

    /// Changes an attendance's `status` and/or `attended`.
    pub async fn update_attendance(
        &self,
        id: i64,
        body: &Map<String, Value>,
    ) -> Result<Attendance, WriteError> {
        let mut errors = FieldError::unknown_fields(body, &["status", "attended"]);
        let status = parse_status(body, &mut errors);
        let attended = match body.get("attended") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                errors.push(FieldError::new("attended", "must be true or false"));
                None
            }
        };
        if !errors.is_empty() {
            return Err(WriteError::Invalid(errors));
        }
        let (now, now_ms) = self.now();
        let mut w = self.store.begin().await?;
        let mut row = self
            .store
            .attendance(id)
            .await?
            .ok_or(WriteError::NotFound)?;
        if let Some(s) = status {
            let was = AttendanceStatus::parse(&row.status).is_some_and(|s| s.takes_place());
            if s.takes_place() && !was {
                let event = self
                    .store
                    .get_many(&mut w, RecordKind::Event, &[row.event_id])
                    .await?
                    .remove(&row.event_id)
                    .ok_or(WriteError::NotFound)?;
                let event: Event = serde_json::from_str(&event.doc).map_err(StoreError::from)?;
                if event
                    .timeslots
                    .iter()
                    .any(|t| t.id == row.timeslot_id && t.is_full)
                {
                    return Err(WriteError::Conflict("this timeslot is full".into()));
                }
            }
            row.status = s.as_str().to_string();
        }
        if let Some(a) = attended {
            row.attended = a;
        }
        row.modified_at = now_ms;
        self.store.put_attendance(&mut w, &row).await?;
        self.refresh_event(&mut w, row.event_id, now).await?;
        w.commit().await?;
        attendance_view(&row)
    }
}

fn parse_status(
    body: &Map<String, Value>,
    errors: &mut Vec<FieldError>,
) -> Option<AttendanceStatus> {
    match body.get("status") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let s = v.as_str().and_then(AttendanceStatus::parse);
            if s.is_none() {
                errors.push(FieldError::new(
                    "status",
                    "must be REGISTERED, CANCELLED or CONFIRMED",
                ));
            }
            s
        }
    }
}

fn taken_identifier() -> WriteError {
    WriteError::Conflict("an identifier already names another record".into())
}

pub fn millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

pub fn attendance_view(row: &AttendanceRow) -> Result<Attendance, WriteError> {
    Ok(Attendance {
        id: row.id,
        person_id: row.person_id,
        event_id: row.event_id,
        timeslot_id: row.timeslot_id,
        status: AttendanceStatus::parse(&row.status)
            .ok_or_else(|| StoreError::Corrupt(format!("attendance status {:?}", row.status)))?,
        attended: row.attended,
        created_date: millis(row.created_at),
        modified_date: millis(row.modified_at),
    })
}
