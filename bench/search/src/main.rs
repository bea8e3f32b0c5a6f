//! The search benchmark's own tool (bench/search/run.sh drives it):
//!
//!   searchbench gen OUT_DIR PEOPLE EVENTS       writes people.ndjson, events.ndjson
//!   searchbench query DATA_DIR NDJSON_DIR N     times N queries of each kind on the
//!                                               Tantivy index in DATA_DIR/search and
//!                                               on a SQLite R*Tree peer built from
//!                                               the same files
//!
//! Both sides answer the same question the same way: the exact matches
//! within the radius, sorted by distance, the first page of 25 with its
//! documents, the total count and (for volunteers) the facets. Each query
//! runs on one thread, one after another, so the figures are latencies.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};
use turnout_search::demo::{self, Generator};
use turnout_search::engine::{Engine, Search};
use turnout_search::geo::{self, Point};
use turnout_search::model::resources::{EventInput, PersonInput};
use turnout_search::model::{Event, Person};

/// Generated data and queries are anchored here, so every run sees the
/// same timeslots as "the next 14 days".
fn anchor() -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000, 0).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match args.first().map(String::as_str) {
        Some("gen") => generate(
            Path::new(&args[1]),
            args[2].parse().unwrap(),
            args[3].parse().unwrap(),
        ),
        Some("query") => rt.block_on(query(
            Path::new(&args[1]),
            Path::new(&args[2]),
            args[3].parse().unwrap(),
            args.get(4).map(String::as_str) != Some("tantivy-only"),
        )),
        _ => {
            eprintln!("usage: searchbench gen OUT PEOPLE EVENTS | query DATA_DIR NDJSON_DIR N");
            std::process::exit(2);
        }
    }
}

fn generate(out: &Path, people: u64, events: u64) {
    std::fs::create_dir_all(out).unwrap();
    let mut g = Generator::new(1, anchor());
    let mut w = BufWriter::new(std::fs::File::create(out.join("people.ndjson")).unwrap());
    for i in 0..people {
        serde_json::to_writer(&mut w, &g.person(i)).unwrap();
        w.write_all(b"\n").unwrap();
    }
    w.flush().unwrap();
    let mut w = BufWriter::new(std::fs::File::create(out.join("events.ndjson")).unwrap());
    for i in 0..events {
        serde_json::to_writer(&mut w, &g.event(i)).unwrap();
        w.write_all(b"\n").unwrap();
    }
    w.flush().unwrap();
}

/// One query of each kind, as Mobilize parameters.
fn events_near_me(rng: &mut StdRng) -> Vec<(String, String)> {
    let zip = demo::METRO_ZIPS.choose(rng).unwrap();
    let now = anchor().timestamp();
    let types: Vec<&&str> = demo::EVENT_TYPES[..4].choose_multiple(rng, 2).collect();
    vec![
        ("zipcode".into(), zip.to_string()),
        ("max_dist".into(), "10".into()),
        ("timeslot_start".into(), "gte_now".into()),
        ("timeslot_start".into(), format!("lt_{}", now + 14 * 86_400)),
        ("event_types".into(), types[0].to_string()),
        ("event_types".into(), types[1].to_string()),
    ]
}

fn volunteer_search(rng: &mut StdRng) -> Vec<(String, String)> {
    let zip = demo::METRO_ZIPS.choose(rng).unwrap();
    let start = anchor().timestamp() + rng.random_range(0..28) * 86_400;
    let language = if rng.random_bool(0.7) { "es" } else { "vi" };
    vec![
        ("zipcode".into(), zip.to_string()),
        ("max_dist".into(), "10".into()),
        (
            "skills".into(),
            demo::SKILLS[..6].choose(rng).unwrap().to_string(),
        ),
        ("languages_spoken".into(), language.into()),
        (
            "available_between".into(),
            format!("{start},{}", start + 3 * 86_400),
        ),
        ("facets".into(), "skills,languages_spoken".into()),
    ]
}

fn resolve(query: turnout_search::query::Query) -> Search {
    Search::for_query(query).expect("known ZIP codes")
}

/// What both sides return, for a cross-check.
#[derive(Debug, PartialEq)]
struct Answer {
    count: u64,
    page: Vec<i64>,
    facets: BTreeMap<String, BTreeMap<String, u64>>,
}

/// `with_peer = false` (`query … tantivy-only`) skips the peer, for
/// profiling the engine alone.
async fn query(data_dir: &Path, ndjson: &Path, n: usize, with_peer: bool) {
    let engine = turnout_search::engine::tantivy::TantivyEngine::open(&data_dir.join("search"))
        .expect("the index built by `turnout serve`");
    let peer_path = data_dir.join("peer.db");
    let started = Instant::now();
    let peer = if with_peer {
        Some(build_peer(&peer_path, ndjson).await)
    } else {
        None
    };
    let peer_build = started.elapsed().as_secs_f64();
    println!("peer_build_seconds {peer_build:.1}");

    for (name, make) in [
        (
            "events near me",
            events_near_me as fn(&mut StdRng) -> Vec<(String, String)>,
        ),
        ("volunteer search", volunteer_search),
    ] {
        let mut rng = StdRng::seed_from_u64(42);
        let queries: Vec<Vec<(String, String)>> = (0..n).map(|_| make(&mut rng)).collect();
        let searches: Vec<Search> = queries
            .iter()
            .map(|pairs| {
                resolve(if name == "events near me" {
                    turnout_search::params::events(pairs, anchor().timestamp()).unwrap()
                } else {
                    turnout_search::params::people(pairs).unwrap()
                })
            })
            .collect();
        // Warm both (page cache, mmap), then measure.
        for s in searches.iter().take(50) {
            let _ = engine.search(s.clone()).await.unwrap();
            if let Some(peer) = &peer {
                let _ = peer_search(peer, s).await;
            }
        }
        let mut ours = Vec::with_capacity(n);
        let mut theirs = Vec::with_capacity(n);
        let mut matches = 0u64;
        let mut mismatches = 0;
        for s in &searches {
            let t = Instant::now();
            let hits = engine.search(s.clone()).await.unwrap();
            let docs: Vec<serde_json::Value> = hits
                .hits
                .iter()
                .map(|h| serde_json::from_str(&h.source).unwrap())
                .collect();
            ours.push(t.elapsed().as_secs_f64() * 1000.0);
            matches += hits.count;
            let Some(peer) = &peer else {
                theirs.push(f64::NAN);
                continue;
            };
            let t = Instant::now();
            let peer_answer = peer_search(peer, s).await;
            theirs.push(t.elapsed().as_secs_f64() * 1000.0);
            let our_answer = Answer {
                count: hits.count,
                page: docs.iter().map(|d| d["id"].as_i64().unwrap()).collect(),
                facets: hits.facets.clone(),
            };
            if our_answer != peer_answer {
                mismatches += 1;
            }
        }
        let (p50, p99) = percentiles(&mut ours);
        let (q50, q99) = percentiles(&mut theirs);
        println!(
            "query {name:?}: n={n} mean_matches={:.0} tantivy_p50_ms={p50:.2} tantivy_p99_ms={p99:.2} \
             sqlite_p50_ms={q50:.2} sqlite_p99_ms={q99:.2} ratio_p50={:.2} ratio_p99={:.2} answers_differ={mismatches}",
            matches as f64 / n as f64,
            q50 / p50,
            q99 / p99
        );
    }
}

fn percentiles(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

// ------------------------------------------------------------------ peer

/// The stack a small team would otherwise pick: SQLite with an R*Tree for
/// the radius box, plain tables for the multi-valued fields, the exact
/// distance and the sort done in the application.
async fn build_peer(path: &Path, ndjson: &Path) -> SqlitePool {
    let _ = std::fs::remove_file(path);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Off)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Off),
        )
        .await
        .unwrap();
    for ddl in [
        "CREATE TABLE people (id INTEGER PRIMARY KEY, lat REAL, lon REAL, doc TEXT)",
        "CREATE VIRTUAL TABLE people_geo USING rtree(id, min_lat, max_lat, min_lon, max_lon)",
        "CREATE TABLE person_skills (skill TEXT, person_id INTEGER)",
        "CREATE TABLE person_langs (lang TEXT, person_id INTEGER, declared INTEGER)",
        "CREATE TABLE person_windows (person_id INTEGER, start INTEGER, end INTEGER)",
        "CREATE TABLE events (id INTEGER PRIMARY KEY, lat REAL, lon REAL, event_type TEXT, visibility TEXT, doc TEXT)",
        "CREATE VIRTUAL TABLE events_geo USING rtree(id, min_lat, max_lat, min_lon, max_lon)",
        "CREATE TABLE slots (event_id INTEGER, start INTEGER, full INTEGER)",
    ] {
        sqlx::query(ddl).execute(&pool).await.unwrap();
    }
    let mut tx = pool.begin().await.unwrap();
    let mut id = 0i64;
    let now = anchor();
    for line in lines(&ndjson.join("people.ndjson")) {
        id += 1;
        let body: serde_json::Value = serde_json::from_str(&line).unwrap();
        let p = Person::new(
            id,
            PersonInput::parse(body.as_object().unwrap()).unwrap(),
            now,
            now,
        );
        let point = p.point().unwrap();
        sqlx::query("INSERT INTO people VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(point.lat)
            .bind(point.lon)
            .bind(serde_json::to_string(&p).unwrap())
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("INSERT INTO people_geo VALUES (?, ?, ?, ?, ?)")
            .bind(id)
            .bind(point.lat)
            .bind(point.lat)
            .bind(point.lon)
            .bind(point.lon)
            .execute(&mut *tx)
            .await
            .unwrap();
        for s in &p.skills {
            sqlx::query("INSERT INTO person_skills VALUES (?, ?)")
                .bind(s)
                .bind(id)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        for l in &p.languages_spoken {
            for (tag, declared) in [(l.as_str(), 1), (l.primary(), 0)] {
                if declared == 0 && tag == l.as_str() {
                    continue;
                }
                sqlx::query("INSERT INTO person_langs VALUES (?, ?, ?)")
                    .bind(tag)
                    .bind(id)
                    .bind(declared)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
        }
        for w in &p.availability {
            sqlx::query("INSERT INTO person_windows VALUES (?, ?, ?)")
                .bind(id)
                .bind(w.start.timestamp())
                .bind(w.end.timestamp())
                .execute(&mut *tx)
                .await
                .unwrap();
        }
    }
    for line in lines(&ndjson.join("events.ndjson")) {
        id += 1;
        let body: serde_json::Value = serde_json::from_str(&line).unwrap();
        let e = Event::new(
            id,
            EventInput::parse(body.as_object().unwrap()).unwrap(),
            None,
            &|_| 0,
            now,
            now,
        );
        let point = e.point();
        sqlx::query("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)")
            .bind(id)
            .bind(point.map(|p| p.lat))
            .bind(point.map(|p| p.lon))
            .bind(e.event_type.as_str())
            .bind(e.visibility.as_str())
            .bind(serde_json::to_string(&e).unwrap())
            .execute(&mut *tx)
            .await
            .unwrap();
        if let Some(point) = point {
            sqlx::query("INSERT INTO events_geo VALUES (?, ?, ?, ?, ?)")
                .bind(id)
                .bind(point.lat)
                .bind(point.lat)
                .bind(point.lon)
                .bind(point.lon)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        for t in &e.timeslots {
            sqlx::query("INSERT INTO slots VALUES (?, ?, ?)")
                .bind(id)
                .bind(t.start_date.timestamp())
                .bind(t.is_full as i64)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
    }
    tx.commit().await.unwrap();
    for ddl in [
        "CREATE INDEX person_skills_i ON person_skills (skill, person_id)",
        "CREATE INDEX person_skills_p ON person_skills (person_id, skill)",
        "CREATE INDEX person_langs_i ON person_langs (lang, person_id)",
        "CREATE INDEX person_langs_p ON person_langs (person_id, lang)",
        "CREATE INDEX person_windows_p ON person_windows (person_id, start, end)",
        "CREATE INDEX slots_e ON slots (event_id, start)",
        "ANALYZE",
    ] {
        sqlx::query(ddl).execute(&pool).await.unwrap();
    }
    pool
}

fn lines(path: &PathBuf) -> impl Iterator<Item = String> {
    BufReader::new(std::fs::File::open(path).unwrap())
        .lines()
        .map(|l| l.unwrap())
        .filter(|l| !l.trim().is_empty())
}

/// A lat/lon box around the circle (no antimeridian handling: the
/// benchmark's centres are US metros).
fn bbox(c: Point, r_km: f64) -> (f64, f64, f64, f64) {
    let dlat = r_km / 111.0 + 1e-6;
    let dlon = r_km / (111.0 * c.lat.to_radians().cos().max(0.01)) + 1e-6;
    (c.lat - dlat, c.lat + dlat, c.lon - dlon, c.lon + dlon)
}

async fn peer_search(pool: &SqlitePool, s: &Search) -> Answer {
    use turnout_search::query::Kind;
    let center = s.center.unwrap();
    let (a, b, c, d) = bbox(center, s.radius_km);
    let rows = match &s.query.kind {
        Kind::Events {
            timeslot,
            event_types,
            ..
        } => {
            let (mut from, mut until) = (i64::MIN, i64::MAX);
            for t in timeslot {
                match *t {
                    turnout_search::query::TimeBound::AtOrAfter(x) => from = from.max(x),
                    turnout_search::query::TimeBound::Before(x) => until = until.min(x),
                }
            }
            sqlx::query(
                "SELECT e.id, e.lat, e.lon FROM events_geo g CROSS JOIN events e ON e.id = g.id \
                 WHERE g.min_lat >= ?1 AND g.max_lat <= ?2 AND g.min_lon >= ?3 AND g.max_lon <= ?4 \
                   AND e.visibility = 'PUBLIC' AND e.event_type IN (?5, ?6) \
                   AND EXISTS (SELECT 1 FROM slots s WHERE s.event_id = e.id AND s.start >= ?7 AND s.start < ?8)",
            )
            .bind(a)
            .bind(b)
            .bind(c)
            .bind(d)
            .bind(event_types[0].as_str())
            .bind(event_types.get(1).unwrap_or(&event_types[0]).as_str())
            .bind(from)
            .bind(until)
            .fetch_all(pool)
            .await
            .unwrap()
        }
        Kind::People {
            skills,
            languages,
            available,
            ..
        } => {
            let w = available.unwrap();
            sqlx::query(
                "SELECT p.id, p.lat, p.lon FROM people_geo g CROSS JOIN people p ON p.id = g.id \
                 WHERE g.min_lat >= ?1 AND g.max_lat <= ?2 AND g.min_lon >= ?3 AND g.max_lon <= ?4 \
                   AND EXISTS (SELECT 1 FROM person_skills s WHERE s.person_id = p.id AND s.skill = ?5) \
                   AND EXISTS (SELECT 1 FROM person_langs l WHERE l.person_id = p.id AND l.lang = ?6) \
                   AND EXISTS (SELECT 1 FROM person_windows w WHERE w.person_id = p.id AND w.start < ?8 AND w.end > ?7)",
            )
            .bind(a)
            .bind(b)
            .bind(c)
            .bind(d)
            .bind(&skills[0])
            .bind(languages[0].as_str())
            .bind(w.start)
            .bind(w.end)
            .fetch_all(pool)
            .await
            .unwrap()
        }
    };
    let mut hits: Vec<(f64, i64)> = rows
        .iter()
        .filter_map(|r| {
            let p = Point {
                lat: r.get(1),
                lon: r.get(2),
            };
            let dist = geo::haversine_km(center, p);
            (dist <= s.radius_km).then_some((dist, r.get::<i64, _>(0)))
        })
        .collect();
    hits.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    let page: Vec<i64> = hits.iter().take(s.query.per_page).map(|h| h.1).collect();
    let table = match s.query.kind {
        Kind::Events { .. } => "events",
        Kind::People { .. } => "people",
    };
    // The page's documents, as a response needs them.
    if !page.is_empty() {
        let list = page
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let docs = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, doc FROM {table} WHERE id IN ({list})"
        )))
        .fetch_all(pool)
        .await
        .unwrap();
        let by_id: HashMap<i64, String> = docs.iter().map(|r| (r.get(0), r.get(1))).collect();
        for id in &page {
            let _: serde_json::Value = serde_json::from_str(&by_id[id]).unwrap();
        }
    }
    let mut facets = BTreeMap::new();
    if !s.query.facets.is_empty() && !hits.is_empty() {
        let list = hits
            .iter()
            .map(|h| h.1.to_string())
            .collect::<Vec<_>>()
            .join(",");
        for (facet, sql) in [
            (
                "skills",
                format!(
                    "SELECT skill, COUNT(*) FROM person_skills WHERE person_id IN ({list}) GROUP BY skill"
                ),
            ),
            (
                "languages_spoken",
                format!(
                    "SELECT lang, COUNT(*) FROM person_langs WHERE declared = 1 AND person_id IN ({list}) GROUP BY lang"
                ),
            ),
        ] {
            if !s.query.facets.iter().any(|f| f == facet) {
                continue;
            }
            let counts: BTreeMap<String, u64> = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1) as u64))
                .collect();
            facets.insert(facet.to_string(), counts);
        }
    } else if !s.query.facets.is_empty() {
        for f in &s.query.facets {
            facets.insert(f.clone(), BTreeMap::new());
        }
    }
    Answer {
        count: hits.len() as u64,
        page,
        facets,
    }
}
