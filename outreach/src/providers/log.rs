//! The `log` provider (the embedded default): appends each message as one
//! JSON line to `<data_dir>/outbox/sms.ndjson` or `email.ndjson`. The
//! outbox is the delivery itself, so a line is written whole, with one
//! `write` on a file opened for appending, before the send counts as done.
//!
//! Each append holds an exclusive lock on the file, so [`erase`] (a person
//! deleting their account) can rewrite it in place while workers in other
//! processes keep appending.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::json;

use super::{Accepted, Failure, Outgoing, Provider, SendFuture};

pub struct LogProvider {
    dir: PathBuf,
    /// One writer at a time, so lines never interleave.
    lock: Mutex<()>,
}

impl LogProvider {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("outbox"),
            lock: Mutex::new(()),
        }
    }

    fn append(&self, file: &str, line: &serde_json::Value) -> std::io::Result<()> {
        let _guard = self.lock.lock().expect("outbox lock");
        std::fs::create_dir_all(&self.dir)?;
        let mut bytes = serde_json::to_vec(line)?;
        bytes.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(file))?;
        f.lock()?;
        f.write_all(&bytes)
    }
}

/// Removes from the outbox every line `doomed` picks, rewriting each file
/// in place under its lock; returns how many lines went.
pub fn erase(
    data_dir: &Path,
    doomed: impl Fn(&serde_json::Value) -> bool,
) -> std::io::Result<usize> {
    use std::io::{Read, Seek};
    let mut removed = 0;
    for file in ["sms.ndjson", "email.ndjson"] {
        let path = data_dir.join("outbox").join(file);
        let mut f = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        f.lock()?;
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        let mut kept = String::with_capacity(text.len());
        for line in text.lines() {
            let gone = serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| doomed(&v));
            if gone {
                removed += 1;
            } else {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        if kept.len() != text.len() {
            f.set_len(0)?;
            f.seek(std::io::SeekFrom::Start(0))?;
            f.write_all(kept.as_bytes())?;
            f.sync_data()?;
        }
    }
    Ok(removed)
}

impl Provider for LogProvider {
    fn name(&self) -> &'static str {
        "log"
    }

    fn send<'a>(&'a self, message: &'a Outgoing) -> SendFuture<'a> {
        Box::pin(async move {
            let (file, line) = match message {
                Outgoing::Sms { id, to, body, .. } => (
                    "sms.ndjson",
                    json!({"id": id.to_string(), "to": to, "body": body}),
                ),
                Outgoing::Email {
                    id,
                    to,
                    subject,
                    text,
                    html,
                    headers,
                } => (
                    "email.ndjson",
                    json!({"id": id.to_string(), "to": to, "subject": subject, "body": text,
                           "html": html, "headers": headers}),
                ),
            };
            match self.append(file, &line) {
                Ok(()) => Ok(Accepted {
                    provider_message_id: format!("log-{}", message.id()),
                }),
                // Whether a partial line reached the disk is unknowable.
                Err(e) => Err(Failure::Unknown {
                    reason: format!("writing the outbox: {e}"),
                }),
            }
        })
    }
}
