//! The search commands of the CLI: `import`, `reindex` and `demo`. Like
//! every CLI command they write to the store; each serving process picks
//! the changes up through the change log (the CLI never opens an index,
//! which only `serve` may write).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Map, Value, json};
use turnout_core::Clock;
use turnout_search::import::{self, Format, Progress, Summary};
use turnout_search::records::{Records, Upsert};
use turnout_search::store::{RecordKind, SearchStore};

use crate::app;
use crate::config::Config;

async fn records(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Records> {
    let store = app::open_store(config).await?;
    Ok(Records::new(SearchStore::new(store), clock))
}

/// Imports a file with a progress bar on stderr.
pub async fn import_file(
    config: &Config,
    clock: Arc<dyn Clock>,
    kind: RecordKind,
    path: &Path,
    format: Option<Format>,
) -> anyhow::Result<Summary> {
    let format = format
        .or_else(|| Format::from_path(path))
        .context("cannot tell the format from the file name; pass --format ndjson or csv")?;
    let records = records(config, clock).await?;
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let progress = Arc::new(Progress::default());
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
        )
        .expect("template"),
    );
    let ticker = {
        let (bar, progress) = (bar.clone(), Arc::clone(&progress));
        tokio::spawn(async move {
            loop {
                bar.set_position(progress.bytes.load(Ordering::Relaxed));
                bar.set_message(format!(
                    "{} records",
                    progress.lines.load(Ordering::Relaxed)
                ));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let result = import::run(&records, kind, format, file, Arc::clone(&progress)).await;
    ticker.abort();
    bar.set_position(progress.bytes.load(Ordering::Relaxed));
    bar.finish_and_clear();
    Ok(result?)
}

/// Asks every serving process to rebuild its index.
pub async fn reindex(config: &Config) -> anyhow::Result<i64> {
    let store = app::open_store(config).await?;
    Ok(SearchStore::new(store).request_reindex().await?)
}

/// Fills the store with generated people and events (the same ones for
/// the same seed: running it twice changes nothing).
pub async fn demo(
    config: &Config,
    clock: Arc<dyn Clock>,
    people: u64,
    events: u64,
    seed: u64,
) -> anyhow::Result<(Summary, Summary)> {
    let records = records(config, Arc::clone(&clock)).await?;
    let mut g = turnout_search::demo::Generator::new(seed, clock.now());
    let mut out = (Summary::default(), Summary::default());
    for (kind, n, summary) in [
        (RecordKind::Person, people, &mut out.0),
        (RecordKind::Event, events, &mut out.1),
    ] {
        let mut i = 0;
        while i < n {
            let batch: Vec<Upsert> = (i..(i + 500).min(n))
                .map(|k| {
                    let body = match kind {
                        RecordKind::Person => g.person(k),
                        RecordKind::Event => g.event(k),
                    };
                    Upsert {
                        body: as_object(body),
                        target: None,
                        merge_on_identifiers: true,
                    }
                })
                .collect();
            i += batch.len() as u64;
            let results = match kind {
                RecordKind::Person => {
                    records
                        .upsert::<turnout_search::model::Person>(&batch)
                        .await?
                }
                RecordKind::Event => {
                    records
                        .upsert::<turnout_search::model::Event>(&batch)
                        .await?
                }
            };
            for r in results {
                match r? {
                    turnout_search::records::Applied::Created(_) => summary.created += 1,
                    turnout_search::records::Applied::Updated(_) => summary.updated += 1,
                    turnout_search::records::Applied::Unchanged(_) => summary.unchanged += 1,
                }
            }
        }
    }
    Ok(out)
}

fn as_object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => {
            let mut m = Map::new();
            m.insert("value".into(), other);
            m
        }
    }
}

/// The demo plan's input: reads of everything, for trying things out.
pub fn demo_plan() -> Map<String, Value> {
    as_object(json!({
        "name": "demo",
        "rate_per_second": 50,
        "burst": 100,
        "scopes": ["events", "events:private", "events:write", "people:read", "people:write"],
    }))
}
