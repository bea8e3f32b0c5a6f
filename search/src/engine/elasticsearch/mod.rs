//! The Elasticsearch engine: one shared index behind an alias, fed by
//! every serving instance from the store's change log, answering the same
//! queries with the same result sets and distance order as Tantivy.
//!
//! - **Idempotent writes.** Every document and deletion carries the
//!   record's version from the store as an external version, so replays,
//!   two instances applying the same change, or a late write of an older
//!   state are refused by Elasticsearch (409, counted as done) instead of
//!   overwriting newer data. `_bulk` answers 200 even when items fail, so
//!   every item's status is checked.
//! - **Exact radius.** Elasticsearch quantizes coordinates, so the query
//!   asks for the radius plus a margin; the documents in the thin band
//!   around the edge are fetched and rechecked with the exact haversine
//!   distance from their stored coordinates, and those outside are
//!   excluded by id from the real query. Counts, facets and pages are then
//!   all exact. Distances served are computed from the exact coordinates.
//! - **Paging** is `search_after` on (sort value, zero-padded id keyword).
//! - **Reindex** fills a new index `<alias>-<random>` while the live one
//!   serves, then moves the alias in one atomic `_aliases` call and deletes
//!   the old index.
//! - **Position.** The change-log position of an index is kept in a meta
//!   index (`<alias>-meta`, one document per index), written with the
//!   position as its external version so it only ever moves forward.

mod mapping;
pub mod query;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use elasticsearch::http::Method;
use elasticsearch::http::headers::HeaderMap;
use elasticsearch::http::request::JsonBody;
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use elasticsearch::params::{Refresh, VersionType};
use elasticsearch::{BulkParts, Elasticsearch, IndexParts, SearchParts};
use serde_json::{Value, json};

use super::page::Key;
use super::{
    Direction, Engine, EngineError, EngineFuture, Hit, Hits, IndexDoc, Position, Rebuild, Removal,
    Search, SortKey,
};
use crate::geo::{self, Point};
use mapping::{FACET_FIELDS, sort_id};
use query::Geo;

/// Bulk requests are cut at about this many bytes.
const BULK_BYTES: usize = 4 << 20;
/// Band documents fetched per round when settling the radius edge.
const BAND_PAGE: usize = 5_000;

/// Cheap to clone: a rebuild holds its own handle on the engine.
#[derive(Clone)]
pub struct ElasticsearchEngine(Arc<Inner>);

struct Inner {
    client: Elasticsearch,
    alias: String,
    meta: String,
    state: Mutex<State>,
    /// One opening at a time in this process (the follower's first write
    /// and the first search arrive together).
    opening: tokio::sync::Mutex<()>,
}

#[derive(Debug, Clone, Default)]
struct State {
    /// Set once the alias and meta index are known to exist.
    opened: bool,
    /// The index the alias pointed to when last looked at (or moved).
    index: String,
    position: Position,
}

fn unavailable(e: impl std::fmt::Display) -> EngineError {
    EngineError::Unavailable(e.to_string())
}

/// A server's answer that arrived. Every request goes through
/// [`Answer::read`], so they all tell "the server is away" apart from "we
/// asked for something wrong" the same way.
struct Answer {
    what: String,
    status: u16,
    value: Value,
}

impl Answer {
    /// Transport failures, 5xx and an unreadable body are "unavailable";
    /// any other status is left for the caller to judge.
    async fn read(
        what: &str,
        response: Result<elasticsearch::http::response::Response, elasticsearch::Error>,
    ) -> Result<Answer, EngineError> {
        let response = response.map_err(|e| unavailable(format!("{what}: {e}")))?;
        let status = response.status_code().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| unavailable(format!("{what}: {e}")))?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| unavailable(format!("{what}: {e}")))?
        };
        if status >= 500 {
            return Err(unavailable(format!("{what}: {status} {value}")));
        }
        Ok(Answer {
            what: what.to_string(),
            status,
            value,
        })
    }

    /// The body of a 2xx; any other status is an error of ours.
    fn expect_success(self) -> Result<Value, EngineError> {
        if (200..300).contains(&self.status) {
            Ok(self.value)
        } else {
            Err(EngineError::Index(format!(
                "{}: {} {}",
                self.what, self.status, self.value
            )))
        }
    }
}

impl ElasticsearchEngine {
    /// A client for `url` with `alias` as the records index name. Nothing
    /// is sent yet: a gateway starts while Elasticsearch is down, and the
    /// index is created or found on first use.
    pub fn new(url: &str, alias: &str, timeout: Duration) -> Result<Self, EngineError> {
        Inner::new(url, alias, timeout).map(|i| Self(Arc::new(i)))
    }

    /// Connects and makes sure the alias and the meta index exist.
    pub async fn open(&self) -> Result<(), EngineError> {
        self.0.open().await
    }
}

impl Inner {
    fn new(url: &str, alias: &str, timeout: Duration) -> Result<Self, EngineError> {
        let url = elasticsearch::http::Url::parse(url)
            .map_err(|e| EngineError::Index(format!("search.url: {e}")))?;
        let transport = TransportBuilder::new(SingleNodeConnectionPool::new(url))
            .disable_proxy()
            .timeout(timeout)
            .build()
            .map_err(|e| EngineError::Index(e.to_string()))?;
        Ok(Self {
            client: Elasticsearch::new(transport),
            alias: alias.to_string(),
            meta: format!("{alias}-meta"),
            state: Mutex::new(State::default()),
            opening: tokio::sync::Mutex::new(()),
        })
    }

    /// Connects and makes sure the alias and the meta index exist, once.
    async fn open(&self) -> Result<(), EngineError> {
        if self.state.lock().expect("state lock").opened {
            return Ok(());
        }
        let _one = self.opening.lock().await;
        if self.state.lock().expect("state lock").opened {
            return Ok(());
        }
        self.ensure_index(&self.meta, mapping::meta_body()).await?;
        let target = match self.alias_target().await? {
            Some(index) => index,
            None => {
                // A fixed name for the first index, so instances opening
                // at once create (and alias) the same one.
                let index = format!("{}-initial", self.alias);
                self.ensure_index(&index, mapping::index_body()).await?;
                self.call(
                    Method::Post,
                    "/_aliases",
                    Some(json!({"actions": [{"add": {"index": index, "alias": self.alias}}]})),
                )
                .await?;
                index
            }
        };
        let position = self.stored_position(&target).await?;
        let mut state = self.state.lock().expect("state lock");
        state.position = position;
        state.index = target;
        state.opened = true;
        Ok(())
    }

    fn new_index_name(&self) -> String {
        format!("{}-{}", self.alias, turnout_core::token::lower36(10))
    }

    /// One request to any endpoint, expected to succeed.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, EngineError> {
        self.request(method, path, body).await?.expect_success()
    }

    /// One request to any endpoint, its answer for the caller to judge.
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, EngineError> {
        let response = self
            .client
            .send(
                method,
                path,
                HeaderMap::new(),
                Option::<&()>::None,
                body.map(JsonBody::new),
                None,
            )
            .await;
        Answer::read(path, response).await
    }

    async fn ensure_index(&self, index: &str, body: Value) -> Result<(), EngineError> {
        let answer = self
            .request(Method::Put, &format!("/{index}"), Some(body))
            .await?;
        if answer.value["error"]["type"] == "resource_already_exists_exception" {
            return Ok(());
        }
        answer.expect_success().map(drop)
    }

    async fn alias_target(&self) -> Result<Option<String>, EngineError> {
        let answer = self
            .request(Method::Get, &format!("/_alias/{}", self.alias), None)
            .await?;
        if answer.status == 404 {
            return Ok(None);
        }
        let value = answer.expect_success()?;
        Ok(value.as_object().and_then(|m| m.keys().next().cloned()))
    }

    async fn stored_position(&self, index: &str) -> Result<Position, EngineError> {
        let answer = self
            .request(Method::Get, &format!("/{}/_doc/{index}", self.meta), None)
            .await?;
        if answer.status == 404 {
            return Ok(Position::default());
        }
        let value = answer.expect_success()?;
        Ok(Position {
            seq: value["_source"]["seq"].as_i64().unwrap_or(0),
            generation: value["_source"]["generation"].as_i64().unwrap_or(0),
        })
    }

    /// Records `position` for `index`; an older one never overwrites a
    /// newer (external version = seq, plus one so that 0 is a version).
    async fn store_position(&self, index: &str, position: Position) -> Result<(), EngineError> {
        let response = self
            .client
            .index(IndexParts::IndexId(&self.meta, index))
            .version(position.seq + 1)
            .version_type(VersionType::External)
            .body(json!({"seq": position.seq, "generation": position.generation}))
            .send()
            .await;
        let answer = Answer::read("storing the position", response).await?;
        if answer.status == 409 {
            return Ok(());
        }
        answer.expect_success().map(drop)
    }

    /// Writes documents and deletions into `index` with their versions,
    /// visible to searches when it returns.
    ///
    /// A deletion is written as a tombstone document at its version, not
    /// as a delete: Elasticsearch forgets a deleted document's version
    /// after `index.gc_deletes` (60 s) and some compatible servers at once,
    /// and an older upsert arriving later would bring the record back.
    /// Searches only ever match people and events; a rebuild leaves the
    /// tombstones behind.
    async fn bulk(
        &self,
        index: &str,
        upserts: &[IndexDoc],
        deletes: &[Removal],
    ) -> Result<(), EngineError> {
        // (id, version, document, its size on the wire, roughly)
        let writes = deletes
            .iter()
            .map(|r| (r.id, r.version, mapping::tombstone(r.id), 200))
            .chain(upserts.iter().map(|d| {
                (
                    d.id,
                    d.version.max(1),
                    mapping::document(d),
                    d.source.len() * 2 + 300,
                )
            }));
        let mut lines: Vec<JsonBody<Value>> = Vec::new();
        let mut bytes = 0;
        for (id, version, doc, size) in writes {
            lines.push(JsonBody::new(json!({"index": {
                "_index": index, "_id": sort_id(id), "version": version, "version_type": "external"
            }})));
            lines.push(JsonBody::new(doc));
            bytes += size;
            if bytes >= BULK_BYTES {
                self.send_bulk(std::mem::take(&mut lines)).await?;
                bytes = 0;
            }
        }
        if !lines.is_empty() {
            self.send_bulk(lines).await?;
        }
        Ok(())
    }

    /// One `_bulk`. It answers 200 even when items fail: each item is
    /// checked ([`bulk_outcome`]).
    async fn send_bulk(&self, lines: Vec<JsonBody<Value>>) -> Result<(), EngineError> {
        let response = self
            .client
            .bulk(BulkParts::None)
            .refresh(Refresh::WaitFor)
            .body(lines)
            .send()
            .await;
        let value = Answer::read("_bulk", response).await?.expect_success()?;
        bulk_outcome(&value)
    }

    async fn search_body(&self, body: Value) -> Result<Value, EngineError> {
        let response = self
            .client
            .search(SearchParts::Index(&[&self.alias]))
            .body(body)
            .send()
            .await;
        Answer::read("_search", response).await?.expect_success()
    }

    /// Ids within the band around the radius whose exact distance is
    /// beyond it.
    async fn beyond_the_edge(&self, s: &Search, center: Point) -> Result<Vec<i64>, EngineError> {
        let margin = query::margin_km(s.radius_km);
        let band = Geo::Band(center, s.radius_km + margin, s.radius_km - margin);
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut body = json!({
                "query": query::query(s, Some(band), &[]),
                "_source": ["id", "lat", "lon"],
                "sort": [{"sid": "asc"}],
                "size": BAND_PAGE,
                "track_total_hits": false,
            });
            if let Some(a) = &after {
                body["search_after"] = json!([a]);
            }
            let value = self.search_body(body).await?;
            let hits = value["hits"]["hits"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for h in &hits {
                let src = &h["_source"];
                if let (Some(lat), Some(lon), Some(id)) =
                    (src["lat"].as_f64(), src["lon"].as_f64(), src["id"].as_i64())
                    && geo::haversine_km(center, Point { lat, lon }) > s.radius_km
                {
                    out.push(id);
                }
            }
            if hits.len() < BAND_PAGE {
                return Ok(out);
            }
            after = hits
                .last()
                .and_then(|h| h["sort"][0].as_str().map(String::from));
        }
    }

    async fn run_search(&self, s: Search) -> Result<Hits, EngineError> {
        self.open().await?;
        let per_page = s.query.per_page;
        let sort = s.sort();
        let (geo, excluded) = match s.center {
            Some(center) => (
                Some(Geo::Within(
                    center,
                    s.radius_km + query::margin_km(s.radius_km),
                )),
                self.beyond_the_edge(&s, center).await?,
            ),
            None => (None, Vec::new()),
        };
        let q = query::query(&s, geo, &excluded);
        let direction = s.cursor.map(|c| c.direction);
        let reversed = direction == Some(Direction::Before);
        let mut body = json!({
            "query": q,
            "sort": query::sort(&s, reversed),
            "size": per_page + 1 + SLACK,
            "track_total_hits": true,
            "_source": ["id", "lat", "lon", "source"],
        });
        if let Some(c) = &s.cursor {
            body["search_after"] = json!(search_after(sort, &c.key, 0, reversed));
        }
        let requested: Vec<&str> = s.query.facets.iter().map(String::as_str).collect();
        let facets: Vec<&str> = FACET_FIELDS
            .iter()
            .copied()
            .filter(|f| requested.contains(f))
            .collect();
        if !facets.is_empty() {
            let aggs: serde_json::Map<String, Value> = facets
                .iter()
                .map(|f| {
                    (
                        f.to_string(),
                        json!({"terms": {"field": f, "size": 10_000}}),
                    )
                })
                .collect();
            body["aggs"] = Value::Object(aggs);
        }
        let value = self.search_body(body.clone()).await?;
        let count = value["hits"]["total"]["value"].as_u64().unwrap_or(0);
        let facets = facet_counts(&value, &facets);
        // Keep only what lies strictly beyond the cursor by the server's
        // own sort values: some compatible servers let ties or rounded
        // scores through `search_after`. Fetch on until the page is full.
        let beyond = |h: &Hit| match &s.cursor {
            None => true,
            Some(c) => {
                let o = order(sort, &h.key, &c.key);
                if reversed {
                    o == Ordering::Less
                } else {
                    o == Ordering::Greater
                }
            }
        };
        let mut round = value;
        let mut hits: Vec<Hit> = Vec::new();
        loop {
            let batch: Vec<Hit> = round["hits"]["hits"]
                .as_array()
                .map(|a| a.iter().filter_map(|h| hit(h, sort, s.center)).collect())
                .unwrap_or_default();
            let full = batch.len() == per_page + 1 + SLACK;
            let last = batch.last().map(|h| h.key);
            hits.extend(batch.into_iter().filter(|h| beyond(h)));
            match last {
                Some(last) if full && hits.len() <= per_page => {
                    body["search_after"] = json!(exact_after(sort, &last));
                    body["track_total_hits"] = json!(false);
                    body.as_object_mut().expect("object").remove("aggs");
                    round = self.search_body(body.clone()).await?;
                }
                _ => break,
            }
        }
        let overflow = hits.len() > per_page;
        hits.truncate(per_page);
        if reversed {
            hits.reverse();
        }
        // Whether anything lies on the other side of the cursor (the
        // cursor's own record included, as the Tantivy engine counts it).
        let behind = match &s.cursor {
            None => false,
            Some(c) => {
                let step = if reversed { -1 } else { 1 };
                let probe = json!({
                    "query": q,
                    "sort": query::sort(&s, !reversed),
                    "size": 1 + SLACK,
                    "track_total_hits": false,
                    "_source": ["id"],
                    "search_after": search_after(sort, &c.key, step, !reversed),
                });
                let v = self.search_body(probe).await?;
                v["hits"]["hits"].as_array().is_some_and(|a| {
                    a.iter()
                        .filter_map(|h| hit(h, sort, None))
                        .any(|h| !beyond(&h))
                })
            }
        };
        let (has_previous, has_next) = match direction {
            None => (false, overflow),
            Some(Direction::After) => (behind, overflow),
            Some(Direction::Before) => (overflow, behind),
        };
        Ok(Hits {
            count,
            hits,
            has_previous,
            has_next,
            facets,
        })
    }
}

/// The requested facets' counts from a search's terms aggregations (every
/// requested facet present, empty when nothing matched).
fn facet_counts(value: &Value, facets: &[&str]) -> BTreeMap<String, BTreeMap<String, u64>> {
    facets
        .iter()
        .map(|f| {
            let counts = value["aggregations"][f]["buckets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| {
                    let key = match &b["key"] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    Some((key, b["doc_count"].as_u64()?))
                })
                .collect();
            (f.to_string(), counts)
        })
        .collect()
}

/// Reads every item of a `_bulk` answer. A version conflict means the
/// index already holds this state or a newer one: done. Anything else that
/// failed fails the batch, so the follower retries it rather than moving
/// past it; overload (429) and server errors count as "unavailable".
fn bulk_outcome(value: &Value) -> Result<(), EngineError> {
    if value["errors"].as_bool() != Some(true) {
        return Ok(());
    }
    for item in value["items"].as_array().into_iter().flatten() {
        let Some((op, result)) = item.as_object().and_then(|m| m.iter().next()) else {
            continue;
        };
        let code = result["status"].as_u64().unwrap_or(0);
        if (200..300).contains(&code) || code == 409 {
            continue;
        }
        let what = format!("_bulk {op} {}: {code} {}", result["_id"], result["error"]);
        return Err(if code >= 500 || code == 429 {
            unavailable(what)
        } else {
            EngineError::Index(what)
        });
    }
    Ok(())
}

/// Extra hits asked for beyond a page, for the ones a lax server lets
/// through `search_after` that are then dropped.
const SLACK: usize = 16;

/// The engine's order of keys (the ascending page order): distance up,
/// relevance down, then the id.
fn order(sort: SortKey, a: &Key, b: &Key) -> Ordering {
    let primary = match sort {
        SortKey::Id => Ordering::Equal,
        SortKey::Distance => a.primary.total_cmp(&b.primary),
        SortKey::Relevance => b.primary.total_cmp(&a.primary),
    };
    primary.then(a.id.cmp(&b.id))
}

/// The `search_after` values for a cursor key, widened a hair towards the
/// side already seen: some compatible servers compare a distance or score
/// more precise than the one they print, and would skip (or repeat) the
/// records tied with the cursor. What comes back is then filtered exactly
/// by the printed sort values. For the id sort, `step` moves the id by one
/// so the cursor's own record falls on the searched side (the probe of
/// "anything behind the cursor").
fn search_after(sort: SortKey, key: &Key, step: i64, reversed: bool) -> Vec<Value> {
    let id = sort_id(key.id + step);
    let nudge = |p: f64, up: bool, rel: f64| {
        let d = p.abs() * rel + 1e-9;
        if up { p + d } else { p - d }
    };
    match sort {
        SortKey::Id => vec![json!(id)],
        // Ascending distance: "after" is farther, so start a hair nearer.
        SortKey::Distance => vec![json!(nudge(key.primary, reversed, 1e-9)), json!(id)],
        // Descending score (scores are 32-bit floats): start a hair higher.
        SortKey::Relevance => vec![json!(nudge(key.primary, !reversed, 1e-6)), json!(id)],
    }
}

/// `search_after` at exactly a hit's printed sort values.
fn exact_after(sort: SortKey, key: &Key) -> Vec<Value> {
    let id = sort_id(key.id);
    match sort {
        SortKey::Id => vec![json!(id)],
        SortKey::Distance | SortKey::Relevance => vec![json!(key.primary), json!(id)],
    }
}

/// A hit as the engine seam wants it: the key is Elasticsearch's own sort
/// value (what `search_after` needs back); the distance is exact.
fn hit(h: &Value, sort: SortKey, center: Option<Point>) -> Option<Hit> {
    let src = &h["_source"];
    let id = src["id"].as_i64()?;
    let primary = match sort {
        SortKey::Id => 0.0,
        _ => h["sort"][0].as_f64().unwrap_or(0.0),
    };
    let distance_km = match (sort, center) {
        (SortKey::Distance, Some(c)) => Some(geo::haversine_km(
            c,
            Point {
                lat: src["lat"].as_f64()?,
                lon: src["lon"].as_f64()?,
            },
        )),
        _ => None,
    };
    Some(Hit {
        id,
        distance_km,
        source: src["source"].as_str().unwrap_or_default().to_string(),
        key: Key { primary, id },
    })
}

impl Engine for ElasticsearchEngine {
    fn name(&self) -> &'static str {
        "elasticsearch"
    }

    fn position(&self) -> Position {
        self.0.state.lock().expect("state lock").position
    }

    fn apply(
        &self,
        upserts: Vec<IndexDoc>,
        deletes: Vec<Removal>,
        seq: i64,
    ) -> EngineFuture<'_, ()> {
        let inner = &self.0;
        Box::pin(async move {
            inner.open().await?;
            inner.bulk(&inner.alias, &upserts, &deletes).await?;
            let (index, position) = {
                let mut state = inner.state.lock().expect("state lock");
                state.position.seq = state.position.seq.max(seq);
                (state.index.clone(), state.position)
            };
            inner.store_position(&index, position).await
        })
    }

    fn search(&self, search: Search) -> EngineFuture<'_, Hits> {
        Box::pin(self.0.run_search(search))
    }

    /// Runs on the blocking pool (the follower's rebuild does): each step
    /// blocks on this runtime for its requests.
    fn rebuild(&self) -> Result<Box<dyn Rebuild>, EngineError> {
        Ok(Box::new(EsRebuild {
            inner: Arc::clone(&self.0),
            runtime: tokio::runtime::Handle::current(),
            index: self.0.new_index_name(),
            created: false,
        }))
    }

    fn check(&self) -> EngineFuture<'_, ()> {
        Box::pin(async move {
            self.0.open().await?;
            self.0
                .call(Method::Get, "/_cluster/health", None)
                .await
                .map(drop)
        })
    }
}

/// A new index filled beside the live one, then swapped in under the
/// alias in one atomic `_aliases` call.
struct EsRebuild {
    inner: Arc<Inner>,
    runtime: tokio::runtime::Handle,
    index: String,
    created: bool,
}

impl EsRebuild {
    fn create(&mut self) -> Result<(), EngineError> {
        if !self.created {
            self.runtime
                .block_on(self.inner.ensure_index(&self.index, mapping::index_body()))?;
            self.created = true;
        }
        Ok(())
    }
}

impl Rebuild for EsRebuild {
    fn add(&mut self, docs: Vec<IndexDoc>) -> Result<(), EngineError> {
        self.create()?;
        self.runtime
            .block_on(self.inner.bulk(&self.index, &docs, &[]))
    }

    fn apply(&mut self, upserts: Vec<IndexDoc>, deletes: Vec<Removal>) -> Result<(), EngineError> {
        self.create()?;
        self.runtime
            .block_on(self.inner.bulk(&self.index, &upserts, &deletes))
    }

    fn finish(mut self: Box<Self>, position: Position) -> Result<(), EngineError> {
        self.create()?;
        let inner = Arc::clone(&self.inner);
        let index = self.index.clone();
        self.runtime.block_on(async move {
            inner.store_position(&index, position).await?;
            let old = inner.alias_target().await?;
            let mut actions = vec![json!({"add": {"index": index, "alias": inner.alias}})];
            if let Some(old) = &old {
                actions.insert(0, json!({"remove": {"index": old, "alias": inner.alias}}));
            }
            inner
                .call(Method::Post, "/_aliases", Some(json!({"actions": actions})))
                .await?;
            {
                let mut state = inner.state.lock().expect("state lock");
                state.index = index.clone();
                state.position = position;
                state.opened = true;
            }
            if let Some(old) = old.filter(|o| *o != index)
                && let Err(e) = inner.call(Method::Delete, &format!("/{old}"), None).await
            {
                tracing::warn!(index = old, error = %e, "the replaced index could not be deleted");
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape Elasticsearch documents for a `_bulk` with a failed item:
    /// HTTP 200, `errors: true`, and the failure only inside the item.
    #[test]
    fn a_failed_item_in_a_200_bulk_is_an_error() {
        let answer = json!({"took": 3, "errors": true, "items": [
            {"index": {"_index": "r", "_id": "1", "_version": 2, "status": 201, "result": "created"}},
            {"index": {"_index": "r", "_id": "2", "status": 409,
                "error": {"type": "version_conflict_engine_exception"}}},
            {"index": {"_index": "r", "_id": "3", "status": 400,
                "error": {"type": "document_parsing_exception", "reason": "failed to parse field [loc]"}}}
        ]});
        match bulk_outcome(&answer) {
            Err(EngineError::Index(what)) => assert!(what.contains("\"3\""), "{what}"),
            other => panic!("{other:?}"),
        }
        let overloaded = json!({"errors": true, "items": [
            {"index": {"_id": "4", "status": 429, "error": {"type": "es_rejected_execution_exception"}}}
        ]});
        assert!(matches!(
            bulk_outcome(&overloaded),
            Err(EngineError::Unavailable(_))
        ));
        let conflicts_only = json!({"errors": true, "items": [
            {"index": {"_id": "5", "status": 409, "error": {"type": "version_conflict_engine_exception"}}}
        ]});
        assert!(bulk_outcome(&conflicts_only).is_ok());
    }
}
