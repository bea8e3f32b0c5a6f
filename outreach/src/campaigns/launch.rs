//! From a campaign to its messages: the audience is read page by page,
//! each person is given exactly one outcome (a message to send, or the
//! reason they get none), and each page is written in one transaction.
//! Preview runs the same plan without writing.
//!
//! Consent at launch: SMS only to an SMS-capable number, email only to an
//! address; nothing to an address on the opt-out or suppression list; one
//! message per address per campaign (the first person met keeps it; the
//! others are `suppressed` with `duplicate_address`). The worker checks the
//! list again right before each send.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};
use turnout_core::store::StoreError;
use turnout_search::engine::{Cursor, Direction, Engine, EngineError, Search};
use turnout_search::model::Person;
use turnout_search::records::Records;

use super::{Audience, Campaign, Spec};
use crate::consent::optouts::OptOuts;
use crate::consent::window::Held;
use crate::queue::{Channel, NewMessage, Queue, Status};
use crate::recipients;
use crate::templates::Compiled;
use crate::unsubscribe::tokens::Tokens;

/// People read per page of the audience.
pub const PAGE: usize = 5000;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("search: {0}")]
    Engine(#[from] EngineError),
    #[error("the audience search is not valid: {0}")]
    Audience(String),
}

/// What launching needs besides the campaign.
pub struct Launcher<'a> {
    pub queue: &'a Queue,
    pub optouts: &'a OptOuts,
    pub records: &'a Records,
    pub engine: &'a dyn Engine,
    /// Appended to a person's first campaign SMS.
    pub footer: &'a str,
    /// Replace look-alike Unicode in SMS bodies with GSM-7.
    pub smart_encoding: bool,
    /// Mints each bulk email's unsubscribe token.
    pub tokens: &'a Tokens,
    /// Where unsubscribe links point, without a trailing slash.
    pub public_url: &'a str,
}

/// One person's outcome.
#[derive(Debug, Clone)]
pub struct Planned {
    pub message: NewMessage,
    /// For previews: the rendered parts.
    pub rendered: Option<Value>,
}

/// Counts by consent outcome, for previews and launch answers.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Tally {
    pub recipients: u64,
    pub sendable: u64,
    pub no_address: u64,
    pub opted_out: u64,
    pub suppressed: u64,
    pub duplicate_address: u64,
    pub render_failed: u64,
}

impl Tally {
    fn count(&mut self, m: &NewMessage) {
        self.recipients += 1;
        match (m.status, m.error_code.as_deref()) {
            (Status::Queued | Status::Deferred, _) => self.sendable += 1,
            (Status::OptedOut, _) => self.opted_out += 1,
            (Status::Failed, _) => self.render_failed += 1,
            (_, Some("duplicate_address")) => self.duplicate_address += 1,
            (_, Some("no_address")) => self.no_address += 1,
            _ => self.suppressed += 1,
        }
    }
}

/// State carried across pages of one launch.
struct Plan<'a> {
    campaign: &'a Campaign,
    template: &'a Compiled,
    now: i64,
    /// Addresses already given a message in this campaign.
    addresses: HashSet<String>,
    /// People already planned (a resumed launch, or an id listed twice).
    people: HashSet<i64>,
    /// A launch (false: a preview, which writes nothing).
    write: bool,
}

impl Launcher<'_> {
    /// Writes the campaign's messages, page by page. Safe to run again
    /// after a crash: people who already have their message are skipped.
    pub async fn launch(
        &self,
        campaign: &Campaign,
        template: &Compiled,
        now: i64,
    ) -> Result<Tally, LaunchError> {
        let (addresses, people) = self.already_planned(campaign.id).await?;
        let mut plan = Plan {
            campaign,
            template,
            now,
            addresses,
            people,
            write: true,
        };
        let mut tally = Tally::default();
        let mut pages = Pages::new(&campaign.spec)?;
        while let Some(page) = pages.next(self).await? {
            let planned = self.plan_page(&mut plan, page).await?;
            let messages: Vec<NewMessage> = planned.into_iter().map(|p| p.message).collect();
            messages.iter().for_each(|m| tally.count(m));
            self.queue.enqueue(&messages, now).await?;
        }
        Ok(tally)
    }

    /// The counts a launch would give, and up to `samples` rendered
    /// messages; nothing is written.
    pub async fn preview(
        &self,
        campaign: &Campaign,
        template: &Compiled,
        now: i64,
        samples: usize,
    ) -> Result<(Tally, Vec<Value>), LaunchError> {
        let mut plan = Plan {
            campaign,
            template,
            now,
            addresses: HashSet::new(),
            people: HashSet::new(),
            write: false,
        };
        let mut tally = Tally::default();
        let mut shown = Vec::new();
        let mut pages = Pages::new(&campaign.spec)?;
        while let Some(page) = pages.next(self).await? {
            for p in self.plan_page(&mut plan, page).await? {
                tally.count(&p.message);
                if shown.len() < samples {
                    shown.push(json!({
                        "person_id": p.message.person_id,
                        "to": p.message.recipient,
                        "status": p.message.status,
                        "reason": p.message.error_code,
                        "rendered": p.rendered,
                    }));
                }
            }
        }
        Ok((tally, shown))
    }

    async fn already_planned(
        &self,
        campaign_id: i64,
    ) -> Result<(HashSet<String>, HashSet<i64>), StoreError> {
        let rows: Vec<(Option<i64>, String, String)> = sqlx::query_as(
            "SELECT person_id, recipient, status FROM outreach_messages WHERE campaign_id = $1",
        )
        .bind(campaign_id)
        .fetch_all(self.queue.store().pool())
        .await?;
        let mut addresses = HashSet::new();
        let mut people = HashSet::new();
        for (person, recipient, status) in rows {
            people.extend(person);
            if !matches!(status.as_str(), "suppressed" | "opted_out" | "failed") {
                addresses.insert(recipient);
            }
        }
        Ok((addresses, people))
    }

    /// People of `page` who had a campaign SMS before (the footer goes on
    /// the first one only).
    async fn had_campaign_sms(
        &self,
        campaign_id: i64,
        ids: &[i64],
    ) -> Result<HashSet<i64>, StoreError> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let dialect = self.queue.store().dialect();
        let sql = format!(
            "SELECT DISTINCT person_id FROM outreach_messages WHERE campaign_id IS NOT NULL \
             AND campaign_id <> {campaign_id} AND channel = 'sms' \
             AND status NOT IN ('opted_out', 'suppressed', 'failed', 'cancelled') \
             AND person_id IN ({})",
            dialect.list_placeholders(ids.len())
        );
        let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).persistent(false);
        for id in ids {
            q = q.bind(*id);
        }
        Ok(q.fetch_all(self.queue.store().pool())
            .await?
            .into_iter()
            .collect())
    }

    async fn plan_page(
        &self,
        plan: &mut Plan<'_>,
        page: Vec<Person>,
    ) -> Result<Vec<Planned>, StoreError> {
        let spec = &plan.campaign.spec;
        let channel = spec.channel;
        let page: Vec<Person> = page
            .into_iter()
            .filter(|p| plan.people.insert(p.id))
            .collect();
        let addresses: Vec<Option<String>> = page
            .iter()
            .map(|p| recipients::address(p, channel))
            .collect();
        let known: Vec<String> = addresses.iter().flatten().cloned().collect();
        let blocked = self.optouts.check_many(channel, &known).await?;
        let ids: Vec<i64> = page.iter().map(|p| p.id).collect();
        let footed = if channel == Channel::Sms && !self.footer.is_empty() {
            self.had_campaign_sms(plan.campaign.id, &ids).await?
        } else {
            HashSet::new()
        };
        // Each bulk email's own unsubscribe link (a preview shows where it
        // would go, and mints nothing).
        let links: HashMap<String, String> = if channel == Channel::Email {
            let wanted: Vec<String> = known
                .iter()
                .filter(|a| !blocked.contains_key(*a))
                .cloned()
                .collect();
            let tokens = if plan.write {
                self.tokens.mint(&wanted, plan.now).await?
            } else {
                vec!["PREVIEW".to_string(); wanted.len()]
            };
            wanted
                .into_iter()
                .zip(tokens)
                .map(|(a, t)| (a, format!("{}/unsubscribe/{t}", self.public_url)))
                .collect()
        } else {
            HashMap::new()
        };
        let window = spec.window();
        let start = plan.now.max(plan.campaign.send_at.unwrap_or(i64::MIN));
        let start_utc = chrono::DateTime::from_timestamp_millis(start).unwrap_or_default();
        let mut out = Vec::with_capacity(page.len());
        for (person, address) in page.iter().zip(addresses) {
            let base =
                |status: Status, recipient: String, code: Option<&str>, error: Option<String>| {
                    NewMessage {
                        channel,
                        recipient,
                        campaign_id: Some(plan.campaign.id),
                        person_id: Some(person.id),
                        sender_key: None,
                        payload: "{}".into(),
                        not_before: start,
                        status,
                        error_code: code.map(str::to_string),
                        error,
                    }
                };
            let Some(address) = address else {
                let why = match channel {
                    Channel::Sms => "no SMS-capable phone number",
                    Channel::Email => "no email address",
                };
                out.push(Planned {
                    message: base(
                        Status::Suppressed,
                        String::new(),
                        Some("no_address"),
                        Some(why.into()),
                    ),
                    rendered: None,
                });
                continue;
            };
            if let Some(reason) = blocked.get(&address) {
                out.push(Planned {
                    message: base(reason.status(), address, Some(reason.as_str()), None),
                    rendered: None,
                });
                continue;
            }
            if !plan.addresses.insert(address.clone()) {
                out.push(Planned {
                    message: base(
                        Status::Suppressed,
                        address,
                        Some("duplicate_address"),
                        Some("another recipient of this campaign shares the address".into()),
                    ),
                    rendered: None,
                });
                continue;
            }
            let link = links.get(&address);
            let mut vars = recipients::vars(person);
            if let Some(url) = link {
                vars.insert("unsubscribe_url".into(), Value::String(url.clone()));
            }
            let mut rendered = match plan.template.render(&Value::Object(vars)) {
                Ok(r) => r.for_channel(channel, self.smart_encoding),
                Err(e) => {
                    plan.addresses.remove(&address);
                    out.push(Planned {
                        message: base(
                            Status::Failed,
                            address,
                            Some("template"),
                            Some(e.to_string()),
                        ),
                        rendered: None,
                    });
                    continue;
                }
            };
            if channel == Channel::Sms && !self.footer.is_empty() && !footed.contains(&person.id) {
                rendered.body = format!("{}\n{}", rendered.body, self.footer);
            }
            let zones = recipients::zones(Some(person), spec.zone());
            let opens = window
                .next_open_in_all(start_utc, &zones)
                .timestamp_millis();
            let status = if opens > start {
                Status::Deferred
            } else {
                Status::Queued
            };
            let mut payload = match serde_json::to_value(&rendered) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            if let Some(url) = link {
                payload.insert(
                    "headers".into(),
                    serde_json::to_value(crate::unsubscribe::headers(url)).unwrap_or(Value::Null),
                );
            }
            payload.insert(
                "window".into(),
                serde_json::to_value(Held::new(&window, &zones)).unwrap_or(Value::Null),
            );
            let rendered_value = serde_json::to_value(&rendered).ok();
            let mut message = base(status, address, None, None);
            message.payload = Value::Object(payload).to_string();
            message.not_before = opens;
            out.push(Planned {
                message,
                rendered: rendered_value,
            });
        }
        Ok(out)
    }
}

/// The audience, a page at a time.
enum Pages {
    Search { search: Box<Search>, done: bool },
    Ids { ids: Vec<i64>, at: usize },
}

impl Pages {
    fn new(spec: &Spec) -> Result<Pages, LaunchError> {
        Ok(match &spec.audience {
            Audience::People(params) => {
                let pairs = Spec::audience_pairs(params);
                let mut query = turnout_search::params::people(&pairs).map_err(|e| {
                    LaunchError::Audience(
                        e.iter()
                            .map(|f| format!("{}: {}", f.field, f.message))
                            .collect::<Vec<_>>()
                            .join("; "),
                    )
                })?;
                query.per_page = PAGE;
                query.facets.clear();
                let search = Search::for_query(query)
                    .ok_or_else(|| LaunchError::Audience("unknown ZIP code".into()))?;
                Pages::Search {
                    search: Box::new(search),
                    done: false,
                }
            }
            Audience::PersonIds(ids) => Pages::Ids {
                ids: ids.clone(),
                at: 0,
            },
        })
    }

    async fn next(&mut self, l: &Launcher<'_>) -> Result<Option<Vec<Person>>, LaunchError> {
        match self {
            Pages::Search { search, done } => {
                if *done {
                    return Ok(None);
                }
                let sort = search.sort();
                let hits = l.engine.search((**search).clone()).await?;
                *done = !hits.has_next || hits.hits.is_empty();
                if let Some(last) = hits.hits.last() {
                    search.cursor = Some(Cursor {
                        sort,
                        direction: Direction::After,
                        key: last.key,
                    });
                }
                let people = hits
                    .hits
                    .iter()
                    .filter_map(|h| serde_json::from_str::<Person>(&h.source).ok())
                    .collect::<Vec<_>>();
                Ok((!people.is_empty() || !*done).then_some(people))
            }
            Pages::Ids { ids, at } => {
                if *at >= ids.len() {
                    return Ok(None);
                }
                let end = (*at + PAGE).min(ids.len());
                let mut people = Vec::with_capacity(end - *at);
                for id in &ids[*at..end] {
                    // An id that names no one is no recipient.
                    if let Some(p) = l
                        .records
                        .get::<Person>(*id)
                        .await
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?
                    {
                        people.push(p);
                    }
                }
                *at = end;
                Ok(Some(people))
            }
        }
    }
}
