//! NDJSON: one JSON object per line; blank lines are skipped.

use std::io::{BufRead, BufReader, Read};

use serde_json::Value;

use super::Line;

/// Parses `input`, handing `send` batches of up to `batch` lines; stops
/// early when `send` returns false (the writer is gone).
pub fn parse(
    input: impl Read,
    batch: usize,
    mut send: impl FnMut(Vec<Line>) -> bool,
) -> Result<(), String> {
    let mut reader = BufReader::with_capacity(256 << 10, input);
    let mut buf = Vec::new();
    let mut out = Vec::with_capacity(batch);
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t.trim(),
            Err(_) => {
                out.push((line_no, Err("the line is not UTF-8".to_string())));
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        let parsed = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err("the line is not a JSON object".to_string()),
            Err(e) => Err(format!("the line is not valid JSON: {e}")),
        };
        out.push((line_no, parsed));
        if out.len() >= batch && !send(std::mem::replace(&mut out, Vec::with_capacity(batch))) {
            return Ok(());
        }
    }
    if !out.is_empty() {
        send(out);
    }
    Ok(())
}
