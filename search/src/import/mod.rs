//! Bulk import of people and events from NDJSON or CSV, streamed in
//! constant memory: a blocking thread parses the input into batches of
//! JSON bodies and hands them over a bounded channel to the writer, which
//! upserts each batch in one transaction. Records are matched on their
//! `identifiers`, so importing a file twice changes nothing the second
//! time; a bad line is reported with its line number and never stops the
//! good ones.

mod csv;
mod ndjson;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::io::AsyncRead;
use tokio::sync::mpsc;

use crate::records::{Applied, Records, Resource, Upsert, WriteError};
use crate::store::RecordKind;

/// Records per transaction.
const BATCH: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
}

impl Format {
    /// From a `Content-Type` (parameters ignored).
    pub fn from_content_type(raw: &str) -> Option<Format> {
        match raw.split(';').next()?.trim().to_ascii_lowercase().as_str() {
            "application/x-ndjson" | "application/jsonl" | "application/json" => {
                Some(Format::Ndjson)
            }
            "text/csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// From a file name's extension.
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "ndjson" | "jsonl" | "json" => Some(Format::Ndjson),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rejected {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = ImportSummary)]
pub struct Summary {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: Vec<Rejected>,
}

/// One parsed line: its number and its body, or why it cannot be read.
pub type Line = (u64, Result<Map<String, Value>, String>);

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading the input: {0}")]
    Read(String),
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Progress, for a progress bar: bytes read and lines done so far.
#[derive(Debug, Default)]
pub struct Progress {
    pub bytes: AtomicU64,
    pub lines: AtomicU64,
}

/// Counts bytes as they are read.
struct Counting<R> {
    inner: R,
    progress: Arc<Progress>,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Imports people or events from `input`.
pub async fn run(
    records: &Records,
    kind: RecordKind,
    format: Format,
    input: impl AsyncRead + Send + Unpin + 'static,
    progress: Arc<Progress>,
) -> Result<Summary, ImportError> {
    match kind {
        RecordKind::Person => {
            run_for::<crate::model::Person>(records, format, input, progress).await
        }
        RecordKind::Event => run_for::<crate::model::Event>(records, format, input, progress).await,
    }
}

async fn run_for<R: Resource>(
    records: &Records,
    format: Format,
    input: impl AsyncRead + Send + Unpin + 'static,
    progress: Arc<Progress>,
) -> Result<Summary, ImportError> {
    let (tx, mut rx) = mpsc::channel::<Vec<Line>>(4);
    let reader = tokio_util::io::SyncIoBridge::new(input);
    let counting = Counting {
        inner: reader,
        progress: Arc::clone(&progress),
    };
    let parser = tokio::task::spawn_blocking(move || {
        let send = |batch: Vec<Line>| tx.blocking_send(batch).is_ok();
        match format {
            Format::Ndjson => ndjson::parse(counting, BATCH, send),
            Format::Csv => csv::parse(counting, R::KIND, BATCH, send),
        }
    });

    let mut summary = Summary::default();
    while let Some(batch) = rx.recv().await {
        let n = batch.len() as u64;
        write_batch::<R>(records, batch, &mut summary).await?;
        progress.lines.fetch_add(n, Ordering::Relaxed);
    }
    parser
        .await
        .map_err(|e| ImportError::Read(e.to_string()))?
        .map_err(ImportError::Read)?;
    summary.rejected.sort_by_key(|r| r.line);
    Ok(summary)
}

async fn write_batch<R: Resource>(
    records: &Records,
    batch: Vec<Line>,
    summary: &mut Summary,
) -> Result<(), ImportError> {
    let mut lines = Vec::with_capacity(batch.len());
    let mut pending: Vec<Upsert> = Vec::with_capacity(batch.len());
    for (line, parsed) in batch {
        match parsed {
            Err(reason) => summary.rejected.push(Rejected { line, reason }),
            Ok(body) => {
                let has_ids = body
                    .get("identifiers")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty());
                if !has_ids {
                    summary.rejected.push(Rejected {
                        line,
                        reason: "identifiers: required for import (they make a re-import update the record instead of duplicating it)".into(),
                    });
                    continue;
                }
                lines.push(line);
                pending.push(Upsert {
                    body,
                    target: None,
                    merge_on_identifiers: true,
                });
            }
        }
    }
    match records.upsert::<R>(&pending).await {
        Ok(results) => {
            for (line, r) in lines.into_iter().zip(results) {
                tally(summary, line, r);
            }
        }
        // A concurrent writer took an identifier between our read and our
        // write, and nothing of the batch was written: retry it record by
        // record, so only the clashing line is rejected.
        Err(WriteError::Conflict(_)) => {
            for (line, one) in lines.into_iter().zip(pending.chunks(1)) {
                match records.upsert::<R>(one).await {
                    Ok(mut r) => tally(summary, line, r.pop().expect("one in, one out")),
                    Err(e @ WriteError::Conflict(_)) => tally(summary, line, Err(e)),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

fn tally(summary: &mut Summary, line: u64, r: Result<Applied, WriteError>) {
    match r {
        Ok(Applied::Created(_)) => summary.created += 1,
        Ok(Applied::Updated(_)) => summary.updated += 1,
        Ok(Applied::Unchanged(_)) => summary.unchanged += 1,
        Err(WriteError::Invalid(errors)) => summary.rejected.push(Rejected {
            line,
            reason: errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
        }),
        Err(e) => summary.rejected.push(Rejected {
            line,
            reason: e.to_string(),
        }),
    }
}
