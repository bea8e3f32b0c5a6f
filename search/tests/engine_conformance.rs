//! The conformance suite every search engine must pass: on generated
//! people and events, random Mobilize queries must return exactly the
//! records a brute-force scan returns, in the same order, with the same
//! counts and facets, and following the cursors must visit every match
//! exactly once. The brute force below is written from API.md, not from
//! the engine's code.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Map, Value};
use turnout_search::demo::{self, Generator};
use turnout_search::engine::{Cursor, Engine, IndexDoc, Search, SortKey};
use turnout_search::geo::{self, Point};
use turnout_search::model::resources::{EventInput, PersonInput};
use turnout_search::model::{Event, Person};
use turnout_search::reference;

const NOW: i64 = 1_795_000_000; // 2026-11-18

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(NOW, 0).unwrap()
}

struct Corpus {
    people: Vec<Person>,
    events: Vec<Event>,
}

/// Builds records the way the store does (parse, then build), with
/// `modified` spread over a few days so `updated_since` has work to do.
fn corpus(seed: u64, people: u64, events: u64) -> Corpus {
    let mut g = Generator::new(seed, now());
    let mut id = 0;
    let mut out = Corpus {
        people: Vec::new(),
        events: Vec::new(),
    };
    for n in 0..people {
        id += 1;
        let body = g.person(n);
        let input = PersonInput::parse(body.as_object().unwrap()).unwrap();
        let at = now() - chrono::Duration::hours((n % 96) as i64);
        out.people.push(Person::new(id, input, at, at));
    }
    for n in 0..events {
        id += 1;
        let body = g.event(n);
        let input = EventInput::parse(body.as_object().unwrap()).unwrap();
        let at = now() - chrono::Duration::hours((n % 96) as i64);
        // Some timeslots are full, as attendances would make them.
        let taken = |slot: i64| if (id + slot) % 3 == 0 { 1000 } else { 0 };
        out.events.push(Event::new(id, input, None, &taken, at, at));
    }
    out
}

async fn index(engine: &dyn Engine, c: &Corpus) {
    let mut docs: Vec<IndexDoc> = Vec::new();
    for p in &c.people {
        docs.push(IndexDoc {
            version: 1,
            ..IndexDoc::from_person(p, serde_json::to_string(p).unwrap())
        });
    }
    for e in &c.events {
        docs.push(IndexDoc {
            version: 1,
            ..IndexDoc::from_event(e, serde_json::to_string(e).unwrap())
        });
    }
    let n = docs.len() as i64;
    // Several commits, so the index has several segments.
    let mut seq = 0;
    while !docs.is_empty() {
        let rest = docs.split_off(docs.len().min(700));
        seq += docs.len() as i64;
        engine.apply(docs, Vec::new(), seq).await.unwrap();
        docs = rest;
    }
    assert_eq!(engine.position().seq, n);
}

/// A random query string, as a client would send it.
fn random_pairs(g: &mut Generator, events: bool) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: String| p.push((k.to_string(), v));
    let roll: f64 = g.rng().random();
    if roll < 0.35 {
        add(
            "zipcode",
            demo::METRO_ZIPS.choose(g.rng()).unwrap().to_string(),
        );
    } else if roll < 0.75 {
        let (lat, lon) = g.query_point();
        add("lat", lat.to_string());
        add("lon", lon.to_string());
    }
    if roll < 0.75 && g.rng().random_bool(0.85) {
        let d = *[0.5, 2.0, 5.0, 10.0, 25.0, 60.0, 300.0]
            .choose(g.rng())
            .unwrap();
        add("max_dist", d.to_string());
    }
    if g.rng().random_bool(0.3) {
        add("tag", demo::TAGS.choose(g.rng()).unwrap().to_string());
    }
    if g.rng().random_bool(0.15) {
        let since = NOW - g.rng().random_range(0..96) * 3600;
        add("updated_since", since.to_string());
    }
    if events {
        if g.rng().random_bool(0.5) {
            add("timeslot_start", "gte_now".into());
        }
        if g.rng().random_bool(0.3) {
            let t = NOW + g.rng().random_range(0..20) * 86_400;
            add("timeslot_start", format!("lt_{t}"));
        }
        if g.rng().random_bool(0.1) {
            let t = NOW + g.rng().random_range(-3..10) * 86_400;
            add("timeslot_start", format!("gte_{t}"));
        }
        for _ in 0..g.rng().random_range(0..=2) {
            add(
                "event_types",
                demo::EVENT_TYPES.choose(g.rng()).unwrap().to_string(),
            );
        }
        if g.rng().random_bool(0.2) {
            add("is_virtual", g.rng().random_bool(0.5).to_string());
        }
        if g.rng().random_bool(0.3) {
            add("exclude_full", "true".into());
        }
        if g.rng().random_bool(0.2) {
            add(
                "visibility",
                ["PUBLIC", "PRIVATE"].choose(g.rng()).unwrap().to_string(),
            );
        }
        if g.rng().random_bool(0.5) {
            add("facets", "event_type,tags,is_virtual".into());
        }
    } else {
        for _ in 0..g.rng().random_range(0..=2) {
            add("skills", demo::SKILLS.choose(g.rng()).unwrap().to_string());
        }
        if g.rng().random_bool(0.35) {
            add(
                "languages_spoken",
                demo::LANGUAGES.choose(g.rng()).unwrap().0.to_string(),
            );
        }
        if g.rng().random_bool(0.3) {
            let start = NOW + g.rng().random_range(0..25) * 86_400;
            let end = start + g.rng().random_range(1..72) * 3600;
            add("available_between", format!("{start},{end}"));
        }
        if g.rng().random_bool(0.5) {
            add("facets", "skills,languages_spoken,tags".into());
        }
    }
    add(
        "per_page",
        [1, 3, 10, 25, 100].choose(g.rng()).unwrap().to_string(),
    );
    p
}

fn resolve(query: turnout_search::query::Query) -> Search {
    Search::for_query(query).expect("known ZIP codes")
}

/// Follows the cursors from the first page to the last, then back.
async fn walk(engine: &dyn Engine, s: &Search) -> (Vec<(i64, Option<f64>)>, u64, Value) {
    let mut seen = Vec::new();
    let mut first = None;
    let mut pages: Vec<Vec<i64>> = Vec::new();
    let mut search = s.clone();
    loop {
        let hits = engine.search(search.clone()).await.unwrap();
        if first.is_none() {
            first = Some((hits.count, serde_json::to_value(&hits.facets).unwrap()));
        }
        assert_eq!(hits.has_previous, !pages.is_empty(), "previous link");
        assert!(hits.hits.len() <= s.query.per_page);
        pages.push(hits.hits.iter().map(|h| h.id).collect());
        seen.extend(hits.hits.iter().map(|h| (h.id, h.distance_km)));
        if !hits.has_next {
            break;
        }
        search.cursor = Some(Cursor {
            sort: s.sort(),
            direction: turnout_search::engine::Direction::After,
            key: hits.hits.last().unwrap().key,
        });
    }
    // And back: `previous` of page i is page i - 1 (a few pages suffice).
    for i in 1..pages.len().min(5) {
        let page_i = fetch_page(engine, s, i).await;
        let before = engine
            .search(Search {
                cursor: Some(Cursor {
                    sort: s.sort(),
                    direction: turnout_search::engine::Direction::Before,
                    key: page_i.hits[0].key,
                }),
                ..s.clone()
            })
            .await
            .unwrap();
        let ids: Vec<i64> = before.hits.iter().map(|h| h.id).collect();
        assert_eq!(ids, pages[i - 1], "previous of page {i}, by {:?}", s.sort());
        assert!(before.has_next);
        assert_eq!(before.has_previous, i > 1);
    }
    let (count, facets) = first.unwrap();
    (seen, count, facets)
}

async fn fetch_page(engine: &dyn Engine, s: &Search, n: usize) -> turnout_search::engine::Hits {
    let mut search = s.clone();
    let mut hits = engine.search(search.clone()).await.unwrap();
    for _ in 0..n {
        search.cursor = Some(Cursor {
            sort: s.sort(),
            direction: turnout_search::engine::Direction::After,
            key: hits.hits.last().unwrap().key,
        });
        hits = engine.search(search.clone()).await.unwrap();
    }
    hits
}

/// How much the random comparison does: the embedded engine takes the
/// full load; a server, where every page is several round trips, a
/// smaller corpus and fewer queries.
pub struct Scale {
    pub people: u64,
    pub events: u64,
    pub queries: usize,
}

pub const FULL: Scale = Scale {
    people: 1500,
    events: 900,
    queries: 300,
};

pub const SERVER: Scale = Scale {
    people: 600,
    events: 400,
    queries: 60,
};

async fn random_queries_match_brute_force(engine: Arc<dyn Engine>, scale: Scale) {
    let queries = scale.queries;
    let c = corpus(7, scale.people, scale.events);
    index(&*engine, &c).await;
    let mut g = Generator::new(99, now());
    let mut nonempty = 0;
    for i in 0..queries {
        let events = i % 2 == 0;
        let pairs = random_pairs(&mut g, events);
        let query = if events {
            turnout_search::params::events(&pairs, NOW)
        } else {
            turnout_search::params::people(&pairs)
        }
        .unwrap_or_else(|e| panic!("{pairs:?}: {e:?}"));
        let mut s = resolve(query);
        let (want, want_facets) = reference::matches(&c.people, &c.events, &s);
        // At most ~15 pages per query, to keep the suite quick.
        s.query.per_page = s.query.per_page.max(want.len().div_ceil(15)).min(100);
        let (got, count, facets) = walk(&*engine, &s).await;
        let ids = |v: &[(i64, Option<f64>)]| v.iter().map(|x| x.0).collect::<Vec<_>>();
        assert_eq!(ids(&got), ids(&want), "query {pairs:?}");
        assert_eq!(count as usize, want.len(), "count of {pairs:?}");
        for ((_, a), (_, b)) in got.iter().zip(&want) {
            assert_eq!(a, b, "distance in {pairs:?}");
        }
        if !s.query.facets.is_empty() {
            assert_eq!(
                facets,
                serde_json::to_value(&want_facets).unwrap(),
                "facets of {pairs:?}"
            );
        }
        nonempty += usize::from(!want.is_empty());
    }
    // The generator must make queries that find things, or the
    // comparison above proves little.
    assert!(
        nonempty * 5 > queries * 2,
        "only {nonempty} of {queries} queries matched anything"
    );
}

/// A document exactly at the radius is in; a hair beyond it is out.
async fn the_radius_is_inclusive_and_exact(engine: Arc<dyn Engine>) {
    let c = corpus(11, 300, 0);
    index(&*engine, &c).await;
    let center = Point {
        lat: 39.95,
        lon: -75.16,
    };
    for p in c.people.iter().take(40) {
        let d = geo::haversine_km(center, p.point().unwrap());
        let mut pairs = vec![
            ("lat".into(), "39.95".into()),
            ("lon".into(), "-75.16".into()),
        ];
        pairs.push(("per_page".into(), "100".into()));
        let query = turnout_search::params::people(&pairs).unwrap();
        for (radius, inside) in [(d, true), (d * (1.0 - 1e-12), false)] {
            let mut s = resolve(query.clone());
            s.radius_km = radius;
            let mut all = Vec::new();
            let mut search = s.clone();
            loop {
                let hits = engine.search(search.clone()).await.unwrap();
                all.extend(hits.hits.iter().map(|h| h.id));
                if !hits.has_next {
                    break;
                }
                search.cursor = Some(Cursor {
                    sort: SortKey::Distance,
                    direction: turnout_search::engine::Direction::After,
                    key: hits.hits.last().unwrap().key,
                });
            }
            assert_eq!(
                all.contains(&p.id),
                inside,
                "person {} at {d} km, radius {radius}",
                p.id
            );
        }
    }
}

/// `q` finds words with a typo in them, in titles and descriptions.
async fn text_search_tolerates_typos(engine: Arc<dyn Engine>) {
    let c = corpus(5, 0, 400);
    index(&*engine, &c).await;
    let find = |q: &str| {
        let pairs = vec![
            ("q".to_string(), q.to_string()),
            ("visibility".into(), "PUBLIC".into()),
            ("visibility".into(), "PRIVATE".into()),
            ("per_page".into(), "100".into()),
        ];
        resolve(turnout_search::params::events(&pairs, NOW).unwrap())
    };
    let exact = engine.search(find("canvass")).await.unwrap();
    assert!(exact.count > 0);
    let typo = engine.search(find("canvas")).await.unwrap();
    assert_eq!(typo.count, exact.count, "one letter missing");
    let typo = engine.search(find("cnavass")).await.unwrap();
    assert_eq!(typo.count, exact.count, "two letters swapped");
    let none = engine.search(find("zzzzqqqq")).await.unwrap();
    assert_eq!(none.count, 0);
    // Every word must match somewhere.
    let both = engine.search(find("canvass pizza")).await.unwrap();
    assert!(both.count < exact.count);
    for h in &both.hits {
        let e: Map<String, Value> = serde_json::from_str(&h.source).unwrap();
        let text = format!("{} {}", e["title"], e["description"]).to_lowercase();
        assert!(text.contains("canvass") && text.contains("pizza"), "{text}");
    }
}

/// Deletes and replacements take effect; the position is recorded.
async fn updates_and_deletes_apply(engine: Arc<dyn Engine>) {
    let mut c = corpus(3, 50, 0);
    index(&*engine, &c).await;
    let all =
        || resolve(turnout_search::params::people(&[("per_page".into(), "100".into())]).unwrap());
    assert_eq!(engine.search(all()).await.unwrap().count, 50);
    let mut p = c.people.remove(0);
    p.skills = vec!["juggling".into()];
    let doc = IndexDoc {
        version: 2,
        ..IndexDoc::from_person(&p, serde_json::to_string(&p).unwrap())
    };
    let gone = c.people[0].id;
    let removal = turnout_search::engine::Removal {
        id: gone,
        version: 2,
    };
    engine.apply(vec![doc], vec![removal], 77).await.unwrap();
    assert_eq!(engine.position().seq, 77);
    let hits = engine.search(all()).await.unwrap();
    assert_eq!(hits.count, 49);
    assert!(!hits.hits.iter().any(|h| h.id == gone));
    let juggling =
        resolve(turnout_search::params::people(&[("skills".into(), "juggling".into())]).unwrap());
    let hits = engine.search(juggling).await.unwrap();
    assert_eq!(hits.hits.iter().map(|h| h.id).collect::<Vec<_>>(), [p.id]);
}

/// Sign-in finds people by an exact phone number or email address (any
/// case), and by nothing looser.
async fn people_are_found_by_contact(engine: Arc<dyn Engine>) {
    let mut c = corpus(4, 20, 0);
    let mut p = c.people.remove(0);
    p.phone_numbers = vec![
        serde_json::from_value(serde_json::json!(
            {"number": "+12155550999", "primary": true, "sms_capable": true}
        ))
        .unwrap(),
    ];
    p.email_addresses = vec![
        serde_json::from_value(serde_json::json!(
            {"address": "Dana@Example.org", "primary": true}
        ))
        .unwrap(),
    ];
    c.people.push(p.clone());
    index(&*engine, &c).await;
    let by = |contact: &str| {
        let mut q = turnout_search::params::people(&[]).unwrap();
        if let turnout_search::query::Kind::People { contacts, .. } = &mut q.kind {
            contacts.push(contact.to_string());
        }
        resolve(q)
    };
    for contact in ["+12155550999", "dana@example.org"] {
        let hits = engine.search(by(contact)).await.unwrap();
        assert_eq!(
            hits.hits.iter().map(|h| h.id).collect::<Vec<_>>(),
            [p.id],
            "{contact}"
        );
    }
    for near_miss in ["+1215555099", "2155550999", "dana@example", "example.org"] {
        assert_eq!(
            engine.search(by(near_miss)).await.unwrap().count,
            0,
            "{near_miss}"
        );
    }
}

macro_rules! conformance {
    ($engine:ident, $make:expr, $scale:expr) => {
        mod $engine {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn random_queries_match_brute_force() {
                super::random_queries_match_brute_force($make, $scale).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_radius_is_inclusive_and_exact() {
                super::the_radius_is_inclusive_and_exact($make).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn text_search_tolerates_typos() {
                super::text_search_tolerates_typos($make).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn updates_and_deletes_apply() {
                super::updates_and_deletes_apply($make).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn people_are_found_by_contact() {
                super::people_are_found_by_contact($make).await;
            }
        }
    };
}

conformance!(
    tantivy,
    Arc::new(
        turnout_search::engine::tantivy::TantivyEngine::open(
            &turnout_core::store::testing::fresh_dir("tantivy")
        )
        .unwrap()
    ),
    FULL
);

/// An Elasticsearch engine on a fresh alias of the server at `$var`
/// (default `default`); `None` when the variable is required and unset.
fn elasticsearch(var: &str, default: Option<&str>) -> Option<Arc<dyn Engine>> {
    let url = std::env::var(var).ok().or(default.map(String::from))?;
    let alias = format!("turnout-t-{}", turnout_core::token::lower36(10));
    Some(Arc::new(
        turnout_search::engine::elasticsearch::ElasticsearchEngine::new(
            &url,
            &alias,
            std::time::Duration::from_secs(30),
        )
        .unwrap(),
    ))
}

/// noida-db from PyPI, which presents itself as Elasticsearch 8.15
/// (scripts/peers.sh starts it).
mod noida {
    use super::*;
    fn engine() -> Arc<dyn Engine> {
        elasticsearch("TURNOUT_TEST_NOIDA_URL", Some("http://127.0.0.1:9250")).unwrap()
    }
    conformance!(suite, engine(), SERVER);
}

/// osmem-server from PyPI, which presents itself as OpenSearch 3.
mod osmem {
    use super::*;
    fn engine() -> Arc<dyn Engine> {
        elasticsearch("TURNOUT_TEST_OSMEM_URL", Some("http://127.0.0.1:9251")).unwrap()
    }
    conformance!(suite, engine(), SERVER);
}
