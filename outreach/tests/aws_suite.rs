//! SNS and SES v2 through the AWS SDK against moto, the AWS emulator:
//! what we send is what moto recorded (`/moto-api/data.json`), and what
//! the SDK's failures mean for a message.
//!
//! moto's known gaps (the issue lists them): no SES v2 templates, bulk
//! sending, suppression list or event destinations, and it does not
//! record SNS message attributes. Tests never reset moto (other tests use
//! it at the same time); each picks out its own messages.

use std::time::Duration;

use serde_json::Value;
use turnout_outreach::config::AwsSection;
use turnout_outreach::providers::ses::SesProvider;
use turnout_outreach::providers::sns::SnsProvider;
use turnout_outreach::providers::{Failure, Outgoing, Provider};

async fn moto() -> String {
    let url =
        std::env::var("TURNOUT_TEST_MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5005".into());
    reqwest::get(format!("{url}/moto-api/"))
        .await
        .unwrap_or_else(|e| panic!("moto is not running at {url} ({e}); run scripts/peers.sh"));
    url
}

fn section(url: &str) -> AwsSection {
    AwsSection {
        region: "us-east-1".into(),
        endpoint_url: Some(url.into()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
    }
}

async fn data(url: &str) -> Value {
    reqwest::get(format!("{url}/moto-api/data.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn unique() -> String {
    turnout_core::token::lower36(10)
}

fn sms(to: &str, body: &str) -> Outgoing {
    Outgoing::Sms {
        id: 1,
        to: to.into(),
        body: body.into(),
        bulk: true,
    }
}

#[tokio::test]
async fn a_text_reaches_sns_as_the_sms_we_meant() {
    let url = moto().await;
    let sns = SnsProvider::new(
        &section(&url),
        Some("+12155550100".into()),
        Duration::from_secs(10),
    )
    .await;
    let body = format!("Canvass Saturday? {}", unique());
    let accepted = sns.send(&sms("+12155550123", &body)).await.unwrap();
    let d = data(&url).await;
    let recorded: Vec<&Value> = d["sns"]["SMS"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["message_id"] == accepted.provider_message_id.as_str())
        .collect();
    assert_eq!(recorded.len(), 1, "{d}");
    assert_eq!(recorded[0]["phone_number"], "+12155550123");
    assert_eq!(recorded[0]["message"], body.as_str());

    // SNS refuses a number that is not one: permanent, never retried.
    match sns.send(&sms("not-a-number", "x")).await {
        Err(Failure::Permanent { .. }) => {}
        other => panic!("expected a permanent failure, got {other:?}"),
    }
}

#[tokio::test]
async fn an_email_reaches_ses_as_our_raw_mime() {
    let url = moto().await;
    let domain = format!("{}.example.org", unique());
    let from = format!("Campaign <team@{domain}>");
    let sender = |from: String| {
        let url = url.clone();
        async move { SesProvider::new(&section(&url), from, None, Duration::from_secs(10)).await }
    };
    let email = Outgoing::Email {
        id: 77,
        to: "ana@example.org".into(),
        subject: "Canvass Saturday".into(),
        text: "Hi Ana".into(),
        html: Some("<p>Hi Ana</p>".into()),
        headers: turnout_outreach::unsubscribe::headers("https://api.example.org/unsubscribe/tok"),
    };
    // Like SES, moto sends only from a verified identity: before, the
    // rejection is permanent.
    match sender(from.clone()).await.send(&email).await {
        Err(Failure::Permanent { code, .. }) => assert_eq!(code, "MessageRejected"),
        other => panic!("expected MessageRejected, got {other:?}"),
    }
    let admin = aws_sdk_sesv2::Client::new(
        &turnout_outreach::providers::aws::sdk_config(&section(&url), Duration::from_secs(10))
            .await,
    );
    admin
        .create_email_identity()
        .email_identity(&domain)
        .send()
        .await
        .unwrap();
    let accepted = sender(from).await.send(&email).await.unwrap();
    let d = data(&url).await;
    let ours: Vec<&Value> = d["ses"]["RawMessage"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["id"] == accepted.provider_message_id.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "{d}");
    let raw = ours[0]["raw_data"].as_str().unwrap();
    for header in [
        format!("Message-ID: <turnout.77@{domain}>\r\n"),
        "List-Unsubscribe: <https://api.example.org/unsubscribe/tok>\r\n".to_string(),
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n".to_string(),
        "Subject: Canvass Saturday\r\n".to_string(),
        "Content-Type: multipart/alternative;".to_string(),
    ] {
        assert!(raw.contains(&header), "{header:?} missing from {raw}");
    }
}

/// Without an answer, a message may have been sent (`unknown`); a refused
/// connection means it was not (retry).
#[tokio::test]
async fn no_answer_is_unknown_and_a_refused_connection_is_retried() {
    // Accepts connections, never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let sns = SnsProvider::new(&section(&silent_url), None, Duration::from_millis(300)).await;
    match sns.send(&sms("+12155550123", "x")).await {
        Err(Failure::Unknown { .. }) => {}
        other => panic!("expected unknown, got {other:?}"),
    }
    // Bound but not listening: refused.
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    let sns = SnsProvider::new(&section(&closed_url), None, Duration::from_secs(2)).await;
    match sns.send(&sms("+12155550123", "x")).await {
        Err(Failure::Retry { code, .. }) => assert_eq!(code, "connect"),
        other => panic!("expected a retry, got {other:?}"),
    }
}
