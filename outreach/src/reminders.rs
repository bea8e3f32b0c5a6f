//! Event reminders: a person registered for an event timeslot gets one
//! reminder a configured time before it starts, by SMS when their number
//! takes texts and is not opted out, else by email when their address is
//! not suppressed. Reminders go through the same queue, consent checks and
//! send window (in the recipient's zone) as campaign messages; a reminder
//! the window would hold past the start is not sent.
//!
//! A task runs [`Reminders::run_once`] every `interval`. Each decision is a
//! row in `outreach_reminders`, written in the same transaction as the
//! message, so a reminder is queued once whichever process decides it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::Row;
use turnout_core::store::{Dialect, StoreError};
use turnout_core::{Clock, Store};
use turnout_search::model::{Event, Person};

use crate::consent::optouts::OptOuts;
use crate::consent::window::{Held, SendWindow};
use crate::queue::{Channel, NewMessage, Queue, Status};
use crate::recipients;
use crate::templates::Compiled;

pub struct Reminders {
    pub queue: Queue,
    pub optouts: OptOuts,
    pub clock: Arc<dyn Clock>,
    /// How long before a timeslot starts its reminder goes out.
    pub before: Duration,
    pub window: SendWindow,
    pub sms: Compiled,
    /// Subject and body.
    pub email: Compiled,
    pub smart_encoding: bool,
}

/// What became of one attendance's reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Queued,
    /// The timeslot had started when first seen.
    Past,
    NoAddress,
    /// The send window would hold it past the start.
    Window,
}

impl Decision {
    fn as_str(self) -> &'static str {
        match self {
            Decision::Queued => "queued",
            Decision::Past => "past",
            Decision::NoAddress => "no_address",
            Decision::Window => "window",
        }
    }
}

struct Due {
    attendance_id: i64,
    timeslot_id: i64,
    person_id: i64,
    event_id: i64,
}

fn in_list(dialect: Dialect, n: usize) -> String {
    dialect.list_placeholders(n)
}

impl Reminders {
    fn store(&self) -> &Store {
        self.queue.store()
    }

    /// Decides every reminder that is due (or can no longer be); returns
    /// how many messages it queued.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let now_ms = self.clock.now_nanos().div_euclid(1_000_000);
        let now = DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
        let pending: Vec<Due> = sqlx::query(
            "SELECT a.id, a.timeslot_id, a.person_id, a.event_id FROM search_attendances a \
             WHERE a.status IN ('REGISTERED', 'CONFIRMED') AND NOT EXISTS \
             (SELECT 1 FROM outreach_reminders r WHERE r.attendance_id = a.id AND r.timeslot_id = a.timeslot_id)",
        )
        .fetch_all(self.store().pool())
        .await?
        .iter()
        .map(|r| {
            Ok(Due {
                attendance_id: r.try_get(0)?,
                timeslot_id: r.try_get(1)?,
                person_id: r.try_get(2)?,
                event_id: r.try_get(3)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
        if pending.is_empty() {
            return Ok(0);
        }
        let events: HashMap<i64, Event> = self
            .docs(pending.iter().map(|d| d.event_id).collect())
            .await?;
        let mut queued = 0;
        let mut due_now = Vec::new();
        for d in pending {
            let Some(slot) = events
                .get(&d.event_id)
                .and_then(|e| e.timeslots.iter().find(|t| t.id == d.timeslot_id))
            else {
                continue; // the event or timeslot is gone
            };
            if slot.start_date <= now {
                self.decide(&d, Decision::Past, None, now_ms).await?;
            } else if slot.start_date - chrono::Duration::from_std(self.before).unwrap_or_default()
                <= now
            {
                due_now.push(d);
            }
        }
        if due_now.is_empty() {
            return Ok(0);
        }
        let people: HashMap<i64, Person> = self
            .docs(due_now.iter().map(|d| d.person_id).collect())
            .await?;
        for d in due_now {
            let (Some(event), Some(person)) = (events.get(&d.event_id), people.get(&d.person_id))
            else {
                continue;
            };
            let slot = event
                .timeslots
                .iter()
                .find(|t| t.id == d.timeslot_id)
                .expect("found above");
            if self.remind(&d, event, slot, person, now).await? {
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// Records a decision and, when there is one, queues its message, in
    /// one transaction; false when another process decided first.
    async fn decide(
        &self,
        d: &Due,
        decision: Decision,
        message: Option<NewMessage>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.store().pool().begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO outreach_reminders (attendance_id, timeslot_id, outcome, decided_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (attendance_id, timeslot_id) DO NOTHING",
        )
        .bind(d.attendance_id)
        .bind(d.timeslot_id)
        .bind(decision.as_str())
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            return Ok(false);
        }
        if let Some(m) = message {
            let ids = self.queue.enqueue_in(&mut tx, &[m], now_ms).await?;
            sqlx::query(
                "UPDATE outreach_reminders SET message_id = $1 WHERE attendance_id = $2 AND timeslot_id = $3",
            )
            .bind(ids[0])
            .bind(d.attendance_id)
            .bind(d.timeslot_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn remind(
        &self,
        d: &Due,
        event: &Event,
        slot: &turnout_search::model::EventTimeslot,
        person: &Person,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now_ms = now.timestamp_millis();
        // By consent: a text if their number takes texts and is not opted
        // out, else an email if their address is not suppressed.
        let mut choice = None;
        for channel in [Channel::Sms, Channel::Email] {
            if let Some(address) = recipients::address(person, channel)
                && self.optouts.check(channel, &address).await?.is_none()
            {
                choice = Some((channel, address));
                break;
            }
        }
        let Some((channel, address)) = choice else {
            return self.decide(d, Decision::NoAddress, None, now_ms).await;
        };
        let zones = recipients::zones(
            Some(person),
            event.timezone.as_deref().and_then(|z| z.parse().ok()),
        );
        let opens = self.window.next_open_in_all(now, &zones);
        if opens >= slot.start_date {
            return self.decide(d, Decision::Window, None, now_ms).await;
        }
        let local_zone: chrono_tz::Tz = event
            .timezone
            .as_deref()
            .and_then(|z| z.parse().ok())
            .unwrap_or(zones[0]);
        let mut vars = recipients::vars(person);
        vars.insert(
            "event".into(),
            serde_json::to_value(event).unwrap_or(Value::Null),
        );
        vars.insert(
            "timeslot".into(),
            json!({
                "id": slot.id,
                "start_date": slot.start_date,
                "end_date": slot.end_date,
                "local": slot.start_date.with_timezone(&local_zone).format("%a %b %-d, %-I:%M %p %Z").to_string(),
            }),
        );
        let template = match channel {
            Channel::Sms => &self.sms,
            Channel::Email => &self.email,
        };
        let (status, payload, code, error) = match template.render(&Value::Object(vars)) {
            Ok(r) => {
                let mut p = match serde_json::to_value(r.for_channel(channel, self.smart_encoding))
                {
                    Ok(Value::Object(m)) => m,
                    _ => Default::default(),
                };
                p.insert(
                    "window".into(),
                    serde_json::to_value(Held::new(&self.window, &zones)).unwrap_or(Value::Null),
                );
                let status = if opens > now {
                    Status::Deferred
                } else {
                    Status::Queued
                };
                (status, Value::Object(p).to_string(), None, None)
            }
            Err(e) => (
                Status::Failed,
                "{}".to_string(),
                Some("template".to_string()),
                Some(e.to_string()),
            ),
        };
        let message = NewMessage {
            channel,
            recipient: address,
            campaign_id: None,
            person_id: Some(person.id),
            sender_key: None,
            payload,
            not_before: opens.timestamp_millis(),
            status,
            error_code: code,
            error,
        };
        self.decide(d, Decision::Queued, Some(message), now_ms)
            .await
    }

    /// Records by id, parsed.
    async fn docs<T: serde::de::DeserializeOwned>(
        &self,
        ids: HashSet<i64>,
    ) -> Result<HashMap<i64, T>, StoreError> {
        let ids: Vec<i64> = ids.into_iter().collect();
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(self.store().dialect().bulk_rows(1)) {
            let sql = format!(
                "SELECT id, doc FROM search_records WHERE deleted_at IS NULL AND id IN ({})",
                in_list(self.store().dialect(), chunk.len())
            );
            let mut q = sqlx::query_as::<_, (i64, Option<String>)>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            for (id, doc) in q.fetch_all(self.store().pool()).await? {
                if let Some(v) = doc.and_then(|d| serde_json::from_str(&d).ok()) {
                    out.insert(id, v);
                }
            }
        }
        Ok(out)
    }

    /// Runs until `stop`, every `interval`.
    pub async fn run(self, interval: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            if let Err(e) = self.run_once().await {
                tracing::error!(error = %e, "event reminders");
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}
