//! The person behind a verified address.
//!
//! Someone already in the store (imported from the voter file, say) signs
//! in as themselves: the search index finds people by phone number or
//! email address, and the stored record is read to confirm the address is
//! still theirs (the index may lag a write by a moment). When several
//! people share the address, the one whose primary address it is wins,
//! then the lowest id. A new address creates a person, remembered in
//! `auth_people` so the next sign-in finds them even before the index has
//! caught up.

use std::sync::Arc;

use serde_json::json;
use turnout_core::Store;
use turnout_search::engine::{Engine, Search};
use turnout_search::model::Person;
use turnout_search::query::{DEFAULT_PER_PAGE, Kind, Query};
use turnout_search::records::{Records, WriteError};

use super::destination::Destination;

#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("search: {0}")]
    Engine(#[from] turnout_search::engine::EngineError),
    #[error(transparent)]
    Store(#[from] turnout_core::store::StoreError),
}

impl From<sqlx::Error> for PeopleError {
    fn from(e: sqlx::Error) -> Self {
        PeopleError::Store(e.into())
    }
}

pub struct People {
    pub store: Store,
    pub records: Records,
    pub engine: Arc<dyn Engine>,
}

/// Whether the person holds the address, and whether as primary.
fn holds(p: &Person, d: &Destination) -> Option<bool> {
    match d {
        Destination::Phone(n) => p
            .phone_numbers
            .iter()
            .find(|ph| ph.number == *n)
            .map(|ph| ph.primary),
        Destination::Email(e) => p
            .email_addresses
            .iter()
            .find(|a| a.address.eq_ignore_ascii_case(e))
            .map(|a| a.primary),
    }
}

impl People {
    /// The person a verified destination signs in as; created when there
    /// is none.
    pub async fn sign_in(&self, d: &Destination, dest_hash: &str) -> Result<Person, PeopleError> {
        if let Some(p) = self.remembered(d, dest_hash).await? {
            return Ok(p);
        }
        if let Some(p) = self.find(d).await? {
            return Ok(p);
        }
        let body = match d {
            Destination::Phone(n) => json!({
                "phone_numbers": [{"number": n.as_str(), "primary": true, "sms_capable": true}]
            }),
            Destination::Email(e) => json!({"email_addresses": [{"address": e, "primary": true}]}),
        };
        let created: Person = self
            .records
            .create(body.as_object().cloned().unwrap_or_default())
            .await?;
        let claimed = sqlx::query(
            "INSERT INTO auth_people (destination, person_id) VALUES ($1, $2) \
             ON CONFLICT (destination) DO NOTHING",
        )
        .bind(dest_hash)
        .bind(created.id)
        .execute(self.store.pool())
        .await?
        .rows_affected();
        if claimed == 0 {
            // A concurrent first sign-in of the same address won: use its
            // person, and take back the one made here.
            self.records.delete::<Person>(created.id).await?;
            if let Some(p) = self.remembered(d, dest_hash).await? {
                return Ok(p);
            }
        }
        Ok(created)
    }

    async fn remembered(
        &self,
        d: &Destination,
        dest_hash: &str,
    ) -> Result<Option<Person>, PeopleError> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT person_id FROM auth_people WHERE destination = $1")
                .bind(dest_hash)
                .fetch_optional(self.store.pool())
                .await?;
        let Some(id) = id else { return Ok(None) };
        let person: Option<Person> = self.records.get(id).await?;
        Ok(person.filter(|p| holds(p, d).is_some()))
    }

    async fn find(&self, d: &Destination) -> Result<Option<Person>, PeopleError> {
        let query = Query {
            kind: Kind::People {
                skills: Vec::new(),
                languages: Vec::new(),
                available: None,
                contacts: vec![d.address().to_string()],
            },
            near: None,
            tags: Vec::new(),
            text: None,
            updated_since: None,
            facets: Vec::new(),
            per_page: DEFAULT_PER_PAGE,
            cursor: None,
        };
        let search = Search::for_query(query).expect("no ZIP code to resolve");
        let hits = self.engine.search(search).await?;
        let mut best: Option<(bool, Person)> = None;
        for hit in hits.hits {
            let Some(p) = self.records.get::<Person>(hit.id).await? else {
                continue;
            };
            let Some(primary) = holds(&p, d) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((bp, b)) => {
                    (primary, std::cmp::Reverse(p.id)) > (*bp, std::cmp::Reverse(b.id))
                }
            };
            if better {
                best = Some((primary, p));
            }
        }
        Ok(best.map(|(_, p)| p))
    }

    /// A person's current role (re-read at every refresh, so a demotion
    /// takes effect then); `None` once the person is gone.
    pub async fn current(&self, person_id: i64) -> Result<Option<Person>, PeopleError> {
        Ok(self.records.get(person_id).await?)
    }
}
