//! The README's quickstart, run as written: the shell block between the
//! `quickstart` markers, in bash, in an empty directory (so on a clean
//! data dir), with the freshly built `turnout` first on the PATH.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

fn quickstart() -> String {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(readme).unwrap();
    let start = text
        .find("<!-- quickstart:start -->")
        .expect("the README marks its quickstart");
    let end = text.find("<!-- quickstart:end -->").unwrap();
    let block = &text[start..end];
    let code = block
        .split_once("```sh\n")
        .expect("a sh block")
        .1
        .rsplit_once("```")
        .unwrap()
        .0;
    code.to_string()
}

#[test]
fn the_readme_quickstart_works_as_written_on_a_clean_data_dir() {
    let script = quickstart();
    let dir = turnout_core::store::testing::fresh_dir("quickstart");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_turnout")).parent().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&dir)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &dir)
        // The one thing the test chooses: a free port, which the README's
        // commands read through TURNOUT_LISTEN.
        .env("TURNOUT_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so the server it starts in the background
        // can be stopped with it whatever happens.
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = child.id();
    let out = child.wait_with_output().unwrap();
    let _ = Command::new("kill")
        .args(["-9", "--", &format!("-{pgid}")])
        .status();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the quickstart failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );

    // The plan, then the event as created.
    assert!(stdout.contains(r#""name":"starter""#), "{stdout}");
    assert!(
        stdout.contains(r#""title":"Canvass Center City""#),
        "{stdout}"
    );
    // The search near 19107: one match, that event, less than a mile away.
    let lines: Vec<&str> = stdout.lines().collect();
    let count = lines
        .iter()
        .position(|l| *l == "1")
        .unwrap_or_else(|| panic!("a count of 1:\n{stdout}"));
    assert_eq!(lines[count + 1], "\"Canvass Center City\"", "{stdout}");
    let miles: f64 = lines[count + 2].parse().expect("a distance in miles");
    assert!(miles < 1.0, "{miles}");
    // The SMS: queued, then written to the outbox by the log provider.
    assert!(stdout.contains(r#""status":"queued""#), "{stdout}");
    let outbox: serde_json::Value = serde_json::from_str(
        lines
            .iter()
            .rev()
            .find(|l| l.contains("Hello from Turnout"))
            .expect("the outbox line"),
    )
    .unwrap();
    assert_eq!(outbox["to"], "+12155550123");
    assert!(
        outbox["body"]
            .as_str()
            .unwrap()
            .starts_with("Hello from Turnout")
    );
    // And it all happened in the clean data dir the README names.
    assert!(dir.join("turnout-data/outbox/sms.ndjson").exists());
}
