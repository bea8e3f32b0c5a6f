//! Sign-in as an app uses it: a code by SMS or email (read from the `log`
//! provider's outbox), tokens, refresh rotation, the signed-in person's own
//! endpoints, roles at the gateway, per-user limits, key rotation and
//! account erasure. Time comes from a manual clock: expiry is tested by
//! moving it, never by waiting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use turnout_core::ManualClock;
use turnout_core::store::testing::Backend;
use turnout_gateway::config::{Config, RouteAuth};
use turnout_outreach::testing::twilio_peer::{ACCOUNT_SID, AUTH_TOKEN, post_signed};

use crate::support::{TestApp, config_on, echo_upstream, outbox, problem, route, upstream};

const PUBLIC: &str = "https://api.example.org";

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().into()
}

struct Rig {
    app: TestApp,
    clock: Arc<ManualClock>,
    dir: std::path::PathBuf,
    /// A public key holding `events` and `attendances`: what ships in the app.
    app_key: String,
    /// A confidential staff key.
    staff_key: String,
}

async fn rig_with(backend: Backend, tune: impl FnOnce(&mut Config)) -> Rig {
    let mut c = config_on(backend).await;
    c.public_url = Some(PUBLIC.into());
    // The inbound webhook checks Twilio's signature with this token; the
    // SMS provider stays `log`.
    c.outreach.sms.twilio = Some(turnout_outreach::config::TwilioSection {
        account_sid: ACCOUNT_SID.into(),
        auth_token: AUTH_TOKEN.into(),
        messaging_service_sid: None,
        from: Some("+12155550100".into()),
        base_url: "http://127.0.0.1:9".into(),
        smart_encoded: false,
        validity_period: None,
        timeout_ms: 1_000,
    });
    c.auth.reload_ms = 50;
    tune(&mut c);
    let dir = c.data_dir.clone();
    let clock = Arc::new(ManualClock::at(at("2026-12-01T15:00:00Z")));
    let app = TestApp::start_with(c, clock.clone(), None).await;
    app.create_plan(
        json!({"name": "app", "rate_per_second": 1000, "burst": 1000,
        "scopes": ["events", "attendances"]}),
    )
    .await;
    app.create_plan(
        json!({"name": "staff", "rate_per_second": 1000, "burst": 1000,
        "scopes": ["events", "events:write", "people:read", "people:write", "campaigns",
                   "messages:send"]}),
    )
    .await;
    let (_, app_key) = app.create_key("app", json!({"type": "public"})).await;
    let (_, staff_key) = app.create_key("staff", json!({})).await;
    Rig {
        app,
        clock,
        dir,
        app_key,
        staff_key,
    }
}

async fn rig(backend: Backend) -> Rig {
    rig_with(backend, |_| {}).await
}

async fn until<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The payload of a JWT, unverified: what the test looks at.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

impl Rig {
    async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> reqwest::Response {
        let mut r = self
            .app
            .http
            .post(self.app.url(path))
            .header("x-api-key", &self.app_key)
            .json(&body);
        if let Some(t) = bearer {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }

    async fn get(&self, path: &str, key: &str, bearer: Option<&str>) -> reqwest::Response {
        let mut r = self
            .app
            .http
            .get(self.app.url(path))
            .header("x-api-key", key);
        if let Some(t) = bearer {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }

    /// Asks for a code and reads it from the outbox (`file`: sms or
    /// email), returning the line's body too.
    async fn code_for(&self, body: Value, file: &str, to: &str) -> (String, String) {
        let seen = outbox(&self.dir, file)
            .iter()
            .filter(|l| l["to"] == to)
            .count();
        let r = self.post("/v1/auth/otp", None, body).await;
        assert_eq!(r.status(), 202);
        let line = until("the code reaches the outbox", async || {
            outbox(&self.dir, file)
                .into_iter()
                .filter(|l| l["to"] == to)
                .nth(seen)
        })
        .await;
        let text = line["body"].as_str().unwrap().to_string();
        let code: String = text
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .expect("six digits in the message")
            .to_string();
        (code, text)
    }

    async fn exchange(&self, phone: &str, code: &str) -> reqwest::Response {
        self.post(
            "/v1/auth/token",
            None,
            json!({"grant_type": "otp", "phone": phone, "code": code}),
        )
        .await
    }

    /// Signs a phone number in: (access token, refresh token).
    async fn sign_in(&self, phone: &str) -> (String, String) {
        let (code, _) = self
            .code_for(json!({"phone": phone}), "sms.ndjson", phone)
            .await;
        let r = self.exchange(phone, &code).await;
        assert_eq!(r.status(), 200);
        let t: Value = r.json().await.unwrap();
        (
            t["access_token"].as_str().unwrap().into(),
            t["refresh_token"].as_str().unwrap().into(),
        )
    }

    async fn refresh(&self, refresh: &str) -> reqwest::Response {
        self.post(
            "/v1/auth/token",
            None,
            json!({"grant_type": "refresh_token", "refresh_token": refresh}),
        )
        .await
    }

    async fn admin_role(&self, person: i64, role: &str) {
        let (status, body) = self
            .app
            .admin(
                reqwest::Method::PATCH,
                &format!("/admin/v1/people/{person}"),
                Some(json!({"role": role})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// A text from `from` through Twilio's signed inbound webhook.
    async fn inbound(&self, sid: &str, from: &str, body: &str) {
        let params = [
            ("AccountSid", ACCOUNT_SID),
            ("MessageSid", sid),
            ("From", from),
            ("To", "+12155550100"),
            ("Body", body),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<Vec<_>>();
        let (status, _) = post_signed(
            &self.app.url("/webhooks/twilio/inbound"),
            &format!("{PUBLIC}/webhooks/twilio/inbound"),
            &params,
            AUTH_TOKEN,
        )
        .await;
        assert_eq!(status, 200);
    }

    /// Waits until a people search (by the staff key) counts `n`: the
    /// index follows writes a moment later.
    async fn until_people_found(&self, query: &str, n: u64) {
        until(&format!("{n} people match {query}"), async || {
            let r: Value = self
                .get(&format!("/v1/people?{query}"), &self.staff_key, None)
                .await
                .json()
                .await
                .unwrap();
            (r["count"] == n).then_some(())
        })
        .await;
    }

    async fn jwks(&self) -> Value {
        self.app
            .http
            .get(self.app.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn store(&self) -> &turnout_core::Store {
        &self.app.running.as_ref().unwrap().store
    }
}

async fn the_whole_flow_with_the_log_provider(backend: Backend) {
    let rig = rig(backend).await;
    let phone = "+12155550123";
    let (code, text) = rig
        .code_for(json!({"phone": phone}), "sms.ndjson", phone)
        .await;
    assert!(text.contains(&code) && text.contains("Turnout"), "{text}");

    // The code rests nowhere in the store: not in the message kept there.
    let payloads: Vec<String> = sqlx::query_scalar("SELECT payload FROM outreach_messages")
        .fetch_all(rig.store().pool())
        .await
        .unwrap();
    assert_eq!(payloads.len(), 1);
    assert!(!payloads[0].contains(&code), "{}", payloads[0]);
    assert!(payloads[0].contains("{code}"));

    let r = rig.exchange(phone, &code).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 900);
    let access = t["access_token"].as_str().unwrap();
    let c = claims(access);
    assert_eq!(c["iss"], PUBLIC);
    assert_eq!(c["aud"], "turnout");
    assert_eq!(c["role"], "volunteer");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
    for claim in ["sub", "jti"] {
        assert!(c[claim].is_string(), "{claim} missing: {c}");
    }

    // A user route: the new person, created by this first sign-in.
    let me: Value = rig
        .get("/v1/me", &rig.app_key, Some(access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"].to_string(), c["sub"].as_str().unwrap());
    assert_eq!(me["phone_numbers"][0]["number"], phone);
    assert_eq!(me["role"], "volunteer");
    // The same code does not work twice.
    assert_eq!(rig.exchange(phone, &code).await.status(), 400);

    // Refresh: new tokens, and the old refresh token is spent.
    let first_refresh = t["refresh_token"].as_str().unwrap();
    let r = rig.refresh(first_refresh).await;
    assert_eq!(r.status(), 200);
    let t2: Value = r.json().await.unwrap();
    let second_refresh = t2["refresh_token"].as_str().unwrap();
    assert_ne!(second_refresh, first_refresh);
    assert_eq!(
        claims(t2["access_token"].as_str().unwrap())["sub"],
        c["sub"]
    );

    // The old one again: stolen-token detection revokes the family, so
    // the newer token dies with it.
    let (status, p) = problem(rig.refresh(first_refresh).await).await;
    assert_eq!((status, p["code"].as_str()), (400, Some("invalid_grant")));
    let (status, _) = problem(rig.refresh(second_refresh).await).await;
    assert_eq!(status, 400);

    // A second sign-in of the same number is the same person; logging out
    // revokes its family. (A number may ask again after 30 s.)
    rig.clock.advance(Duration::from_secs(31));
    let (access2, refresh2) = rig.sign_in(phone).await;
    assert_eq!(claims(&access2)["sub"], c["sub"]);
    let r = rig.post("/v1/auth/logout", Some(&access2), json!({})).await;
    assert_eq!(r.status(), 204);
    assert_eq!(rig.refresh(&refresh2).await.status(), 400);

    // Without a token a user route is 401, and the response says how.
    let r = rig.get("/v1/me", &rig.app_key, None).await;
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    let (status, p) = problem(r).await;
    assert_eq!((status, p["code"].as_str()), (401, Some("invalid_token")));
}

async fn codes_by_email_and_what_the_code_request_reveals(backend: Backend) {
    let rig = rig_with(backend, |c| {
        c.auth.otp.per_key_per_hour = 4;
    })
    .await;
    let (code, _) = rig
        .code_for(
            json!({"email": "Ann@Example.org"}),
            "email.ndjson",
            "ann@example.org",
        )
        .await;
    let r = rig
        .post(
            "/v1/auth/token",
            None,
            json!({"grant_type": "otp", "email": "ann@example.org", "code": code}),
        )
        .await;
    assert_eq!(r.status(), 200);

    // An opted-out number gets the same 202 and nothing is sent.
    rig.inbound("SM1", "+12155550777", "STOP").await;
    let r = rig
        .post("/v1/auth/otp", None, json!({"phone": "+12155550777"}))
        .await;
    assert_eq!(r.status(), 202);
    // A number asking again at once is silently held back too.
    let r = rig
        .post("/v1/auth/otp", None, json!({"email": "ann@example.org"}))
        .await;
    assert_eq!(r.status(), 202);

    // Countries codes do not go to, and malformed addresses, are the
    // caller's to fix.
    let (status, p) = problem(
        rig.post("/v1/auth/otp", None, json!({"phone": "+18765550123"}))
            .await,
    )
    .await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["errors"][0]["field"], "phone");
    let (status, _) = problem(
        rig.post("/v1/auth/otp", None, json!({"phone": "555"}))
            .await,
    )
    .await;
    assert_eq!(status, 422);

    // The key's own hourly allowance (4 here) answers 429.
    for i in 0..3 {
        let r = rig
            .post(
                "/v1/auth/otp",
                None,
                json!({"phone": format!("+1215555090{i}")}),
            )
            .await;
        assert_eq!(r.status(), 202);
    }
    let r = rig
        .post("/v1/auth/otp", None, json!({"phone": "+12155550999"}))
        .await;
    assert!(r.headers().contains_key("retry-after"));
    let (status, p) = problem(r).await;
    assert_eq!((status, p["code"].as_str()), (429, Some("rate_limited")));
    // The three numbers got their codes; the opted-out one never did.
    let texts = until("three codes are sent", async || {
        let t = outbox(&rig.dir, "sms.ndjson");
        (t.len() == 3).then_some(t)
    })
    .await;
    assert!(texts.iter().all(|l| l["to"] != "+12155550777"));
}

/// SMS-pumping defence: the day's SMS budget caps codes by text across
/// all numbers, silently; the next UTC day has a budget again.
async fn the_daily_sms_budget(backend: Backend) {
    let rig = rig_with(backend, |c| c.auth.otp.sms_daily_budget = 2).await;
    for n in ["+12155550201", "+12155550202", "+12155550203"] {
        let r = rig.post("/v1/auth/otp", None, json!({"phone": n})).await;
        assert_eq!(r.status(), 202);
    }
    let sent = until("two codes are sent", async || {
        let t = outbox(&rig.dir, "sms.ndjson");
        (t.len() == 2).then_some(t)
    })
    .await;
    assert!(sent.iter().all(|l| l["to"] != "+12155550203"));
    // Email codes are not texts and do not count.
    rig.code_for(
        json!({"email": "x@example.org"}),
        "email.ndjson",
        "x@example.org",
    )
    .await;
    rig.clock.advance(Duration::from_secs(9 * 3600 + 1));
    rig.code_for(
        json!({"phone": "+12155550203"}),
        "sms.ndjson",
        "+12155550203",
    )
    .await;
}

async fn guessing_a_code(backend: Backend) {
    let rig = rig(backend).await;
    let phone = "+12155550124";
    let (code, _) = rig
        .code_for(json!({"phone": phone}), "sms.ndjson", phone)
        .await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    for _ in 0..5 {
        let (status, p) = problem(rig.exchange(phone, &wrong).await).await;
        assert_eq!((status, p["code"].as_str()), (400, Some("invalid_grant")));
    }
    // The sixth attempt fails even with the right code.
    assert_eq!(rig.exchange(phone, &code).await.status(), 400);

    // An expired code fails.
    let other = "+12155550125";
    let (code, _) = rig
        .code_for(json!({"phone": other}), "sms.ndjson", other)
        .await;
    rig.clock.advance(Duration::from_secs(600));
    assert_eq!(rig.exchange(other, &code).await.status(), 400);
    // A fresh code after that works.
    rig.clock.advance(Duration::from_secs(60));
    let (code, _) = rig
        .code_for(json!({"phone": other}), "sms.ndjson", other)
        .await;
    assert_eq!(rig.exchange(other, &code).await.status(), 200);
}

async fn repeated_failures_lock_a_destination_out(backend: Backend) {
    let rig = rig_with(backend, |c| {
        c.auth.otp.lockout_failures = 3;
        c.auth.otp.resend_after_secs = 0;
    })
    .await;
    let phone = "+12155550126";
    let (code, _) = rig
        .code_for(json!({"phone": phone}), "sms.ndjson", phone)
        .await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    for _ in 0..3 {
        assert_eq!(rig.exchange(phone, &wrong).await.status(), 400);
    }
    // Locked: the right code fails, and a new challenge is not even sent.
    assert_eq!(rig.exchange(phone, &code).await.status(), 400);
    let before = outbox(&rig.dir, "sms.ndjson").len();
    assert_eq!(
        rig.post("/v1/auth/otp", None, json!({"phone": phone}))
            .await
            .status(),
        202
    );
    // After the lockout a code goes out and works.
    rig.clock.advance(Duration::from_secs(3601));
    let (code, _) = rig
        .code_for(json!({"phone": phone}), "sms.ndjson", phone)
        .await;
    assert_eq!(outbox(&rig.dir, "sms.ndjson").len(), before + 1);
    assert_eq!(rig.exchange(phone, &code).await.status(), 200);
}

/// The server's current signing key, read from the store as an attacker
/// who had stolen it could not (the test needs it to forge claims that are
/// wrong in exactly one way).
async fn server_key(rig: &Rig) -> (String, EncodingKey) {
    let (kid, private): (String, String) = sqlx::query_as(
        "SELECT kid, private_key FROM auth_signing_keys WHERE retired_at IS NULL ORDER BY active_from DESC LIMIT 1",
    )
    .fetch_one(rig.store().pool())
    .await
    .unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(private)
        .unwrap();
    (kid, EncodingKey::from_ed_der(&der))
}

async fn the_attack_matrix(backend: Backend) {
    let rig = rig(backend).await;
    let (access, _) = rig.sign_in("+12155550130").await;
    let good = claims(&access);
    let (kid, key) = server_key(&rig).await;
    let jwks = rig.jwks().await;
    assert_eq!(jwks["keys"][0]["kid"], kid);
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    let x = jwks["keys"][0]["x"].as_str().unwrap();

    let sign = |claims: &Value, alg: Algorithm, key: &EncodingKey| {
        let mut h = Header::new(alg);
        h.kid = Some(kid.clone());
        jsonwebtoken::encode(&h, claims, key).unwrap()
    };
    let with = |field: &str, value: Value| {
        let mut c = good.clone();
        c[field] = value;
        c
    };
    let now = turnout_core::Clock::now(&*rig.clock).timestamp();
    // The control: our key and our claims pass.
    let forged_ok = sign(&with("jti", json!("x")), Algorithm::EdDSA, &key);
    assert_eq!(
        rig.get("/v1/me", &rig.app_key, Some(&forged_ok))
            .await
            .status(),
        200
    );

    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
        b64(&good)
    );
    let other_issuer_key = {
        let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .unwrap();
        EncodingKey::from_ed_der(pkcs8.as_ref())
    };
    let mut attacks = vec![
        ("alg none", alg_none),
        (
            "HS256 keyed with the public key (text)",
            sign(
                &good,
                Algorithm::HS256,
                &EncodingKey::from_secret(x.as_bytes()),
            ),
        ),
        (
            "HS256 keyed with the public key (bytes)",
            sign(
                &good,
                Algorithm::HS256,
                &EncodingKey::from_secret(&URL_SAFE_NO_PAD.decode(x).unwrap()),
            ),
        ),
        (
            "another issuer's key under our kid",
            sign(&good, Algorithm::EdDSA, &other_issuer_key),
        ),
        (
            "expired",
            sign(&with("exp", json!(now - 3600)), Algorithm::EdDSA, &key),
        ),
        (
            "nbf in the future",
            sign(&with("nbf", json!(now + 3600)), Algorithm::EdDSA, &key),
        ),
        (
            "wrong aud",
            sign(&with("aud", json!("someone-else")), Algorithm::EdDSA, &key),
        ),
        (
            "wrong iss",
            sign(
                &with("iss", json!("https://evil.example")),
                Algorithm::EdDSA,
                &key,
            ),
        ),
        ("truncated", access[..access.len() - 10].to_string()),
        ("garbage", "not.a.jwt".to_string()),
        ("empty", String::new()),
    ];
    // An unknown kid.
    let mut h = Header::new(Algorithm::EdDSA);
    h.kid = Some("nobody".into());
    attacks.push((
        "unknown kid",
        jsonwebtoken::encode(&h, &good, &key).unwrap(),
    ));
    for (what, token) in &attacks {
        let r = rig
            .app
            .http
            .get(rig.app.url("/v1/me"))
            .header("x-api-key", &rig.app_key)
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        let (status, p) = problem(r).await;
        assert_eq!(
            (status, p["code"].as_str()),
            (401, Some("invalid_token")),
            "{what}: {p}"
        );
    }
    // And the real token expires with the clock.
    rig.clock.advance(Duration::from_secs(900 + 31));
    assert_eq!(
        rig.get("/v1/me", &rig.app_key, Some(&access))
            .await
            .status(),
        401
    );
}

async fn user_routes_upstream_carry_who_is_signed_in(backend: Backend) {
    let up = echo_upstream("canvass").await;
    let rig = rig_with(backend, |c| {
        c.upstreams = vec![upstream("canvass", &[&up.url()], &[], 5000)];
        let mut doors = route("/v1/doors", "canvass", &["events"], false);
        doors.auth = RouteAuth::User;
        let mut turf = route("/v1/turf", "canvass", &["events"], false);
        turf.auth = RouteAuth::User;
        turf.role = Some(turnout_search::model::resources::Role::Organizer);
        c.routes = vec![doors, turf];
    })
    .await;
    let (access, _) = rig.sign_in("+12155550140").await;
    let me = claims(&access)["sub"].as_str().unwrap().to_string();
    let r = rig
        .app
        .http
        .get(rig.app.url("/v1/doors/17"))
        .header("x-api-key", &rig.app_key)
        .bearer_auth(&access)
        .header("x-turnout-person", "1")
        .header("x-turnout-role", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.unwrap();
    let h = &seen["headers"];
    assert_eq!(h["x-turnout-person"], me.as_str());
    assert_eq!(h["x-turnout-role"], "volunteer");
    assert!(h.get("authorization").is_none(), "{h}");
    assert!(h.get("x-api-key").is_none(), "{h}");

    let (status, p) = problem(rig.get("/v1/doors/17", &rig.app_key, None).await).await;
    assert_eq!((status, p["code"].as_str()), (401, Some("invalid_token")));
    let (status, p) = problem(rig.get("/v1/turf", &rig.app_key, Some(&access)).await).await;
    assert_eq!((status, p["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(up.hits(), 1);
}

async fn organizers_search_people_and_a_demotion_lands_at_refresh(backend: Backend) {
    let rig = rig(backend).await;
    let (access, refresh) = rig.sign_in("+12155550150").await;
    let person: i64 = claims(&access)["sub"].as_str().unwrap().parse().unwrap();
    // A volunteer's token does not open people search through the app key.
    let (status, _) = problem(rig.get("/v1/people", &rig.app_key, Some(&access)).await).await;
    assert_eq!(status, 403);
    // A PATCH /v1/me cannot make anyone an organizer.
    let r = rig
        .app
        .http
        .patch(rig.app.url("/v1/me"))
        .header("x-api-key", &rig.app_key)
        .bearer_auth(&access)
        .json(&json!({"role": "organizer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);

    rig.admin_role(person, "organizer").await;
    let t: Value = rig.refresh(&refresh).await.json().await.unwrap();
    let organizer = t["access_token"].as_str().unwrap();
    assert_eq!(claims(organizer)["role"], "organizer");
    assert_eq!(
        rig.get("/v1/people", &rig.app_key, Some(organizer))
            .await
            .status(),
        200
    );

    rig.admin_role(person, "volunteer").await;
    let t: Value = rig
        .refresh(t["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let demoted = t["access_token"].as_str().unwrap();
    assert_eq!(claims(demoted)["role"], "volunteer");
    assert_eq!(
        rig.get("/v1/people", &rig.app_key, Some(demoted))
            .await
            .status(),
        403
    );
    let (status, audit) = rig
        .app
        .admin(reqwest::Method::GET, "/admin/v1/audit", None)
        .await;
    assert_eq!(status, 200);
    assert!(audit.to_string().contains("person.role"), "{audit}");
}

async fn registering_for_an_event_as_the_signed_in_person(backend: Backend) {
    let rig = rig(backend).await;
    let event: Value = rig
        .app
        .http
        .post(rig.app.url("/v1/events"))
        .header("x-api-key", &rig.staff_key)
        .json(&json!({"title": "Canvass", "event_type": "CANVASS",
            "location": {"postal_code": "19107"},
            "timeslots": [{"start_date": "2026-12-05T15:00:00Z", "end_date": "2026-12-05T17:00:00Z"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!("/v1/events/{}/attendances", event["id"]);
    let slot = &event["timeslots"][0]["id"];
    let (access, _) = rig.sign_in("+12155550160").await;
    let me: i64 = claims(&access)["sub"].as_str().unwrap().parse().unwrap();

    let r = rig
        .post(&path, Some(&access), json!({"timeslot_id": slot}))
        .await;
    assert_eq!(r.status(), 201);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["person_id"], me);
    // Not for someone else, and not without a token.
    let (status, _) = problem(
        rig.post(
            &path,
            Some(&access),
            json!({"timeslot_id": slot, "person_id": me + 1000}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = problem(rig.post(&path, None, json!({"timeslot_id": slot})).await).await;
    assert_eq!(status, 403);

    let mine: Value = rig
        .get("/v1/me/attendances", &rig.app_key, Some(&access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["count"], 1);
    assert_eq!(mine["data"][0]["id"], a["id"]);
    // Cancelling their own.
    let r = rig
        .app
        .http
        .patch(rig.app.url(&format!("/v1/attendances/{}", a["id"])))
        .header("x-api-key", &rig.app_key)
        .bearer_auth(&access)
        .json(&json!({"status": "CANCELLED"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Another volunteer sees none of it.
    let (other, _) = rig.sign_in("+12155550161").await;
    let theirs: Value = rig
        .get("/v1/me/attendances", &rig.app_key, Some(&other))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["count"], 0);
    let r = rig
        .get(
            &format!("/v1/attendances/{}", a["id"]),
            &rig.app_key,
            Some(&other),
        )
        .await;
    assert_eq!(r.status(), 404);
}

async fn per_user_rate_limits(backend: Backend) {
    let rig = rig(backend).await;
    rig.app
        .create_plan(
            json!({"name": "metered", "rate_per_second": 100, "burst": 100,
            "user_rate_per_second": 1, "user_burst": 2, "scopes": ["events", "attendances"]}),
        )
        .await;
    let (_, metered) = rig
        .app
        .create_key("metered", json!({"type": "public"}))
        .await;
    let (ann, _) = rig.sign_in("+12155550170").await;
    let (bob, _) = rig.sign_in("+12155550171").await;
    for _ in 0..2 {
        let r = rig.get("/v1/me", &metered, Some(&ann)).await;
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["ratelimit-policy"]
                .to_str()
                .unwrap()
                .contains("\"user\";q=2;w=2"),
            "{:?}",
            r.headers()
        );
    }
    let r = rig.get("/v1/me", &metered, Some(&ann)).await;
    let state = r.headers()["ratelimit"].to_str().unwrap().to_string();
    assert!(state.contains("\"user\";r=0"), "{state}");
    // The key's own count did not move for the refused request.
    assert!(state.starts_with("\"rate\";r=98"), "{state}");
    let (status, p) = problem(r).await;
    assert_eq!((status, p["code"].as_str()), (429, Some("rate_limited")));
    // Another user is not held back by Ann.
    assert_eq!(rig.get("/v1/me", &metered, Some(&bob)).await.status(), 200);
    // A second later Ann has one again.
    rig.clock.advance(Duration::from_secs(1));
    assert_eq!(rig.get("/v1/me", &metered, Some(&ann)).await.status(), 200);
}

async fn rotating_the_signing_key(backend: Backend) {
    let rig = rig(backend).await;
    let (old_token, _) = rig.sign_in("+12155550180").await;
    let old_kid = jsonwebtoken::decode_header(&old_token).unwrap().kid;
    let new_kid = turnout_gateway::auth::signing::rotate(
        rig.store(),
        turnout_core::Clock::now(&*rig.clock).timestamp(),
        5,
    )
    .await
    .unwrap();
    // Published first: every instance verifies the new kid before any
    // token carries it.
    let jwks = until("the new key is published", async || {
        let j = rig.jwks().await;
        (j["keys"].as_array().unwrap().len() == 2).then_some(j)
    })
    .await;
    assert!(jwks.to_string().contains(&new_kid));
    rig.clock.advance(Duration::from_secs(5));
    let (new_token, _) = rig.sign_in("+12155550181").await;
    let kid = jsonwebtoken::decode_header(&new_token).unwrap().kid;
    assert_eq!(kid.as_deref(), Some(new_kid.as_str()));
    assert_ne!(kid, old_kid);
    // Tokens of the old key still pass until they expire.
    for t in [&old_token, &new_token] {
        assert_eq!(rig.get("/v1/me", &rig.app_key, Some(t)).await.status(), 200);
    }
    // Once the old key's last token has expired it leaves the JWKS.
    rig.clock.advance(Duration::from_secs(900 + 31));
    let j = rig.jwks().await;
    assert_eq!(j["keys"].as_array().unwrap().len(), 1);
    assert_eq!(j["keys"][0]["kid"], new_kid);
}

/// Every row of every table, as text, for "is anything of them left?".
async fn dump_store(store: &turnout_core::Store) -> String {
    use sqlx::{Column, Row};
    let pool = store.pool();
    let postgres = store.dialect().name() == "postgres";
    let tables: Vec<String> = if postgres {
        sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    } else {
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(pool)
            .await
            .unwrap()
    };
    let mut out = String::new();
    for t in tables {
        if postgres {
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT x::text FROM \"{t}\" x"
            )))
            .fetch_all(pool)
            .await
            .unwrap();
            for r in rows {
                out.push_str(&format!("{t}: {r}\n"));
            }
        } else {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM \"{t}\"")))
                .fetch_all(pool)
                .await
                .unwrap();
            for r in rows {
                out.push_str(&t);
                for (i, c) in r.columns().iter().enumerate() {
                    let v = r
                        .try_get::<Option<String>, _>(i)
                        .map(|v| v.unwrap_or_default())
                        .or_else(|_| r.try_get::<Option<i64>, _>(i).map(|v| format!("{v:?}")))
                        .or_else(|_| {
                            r.try_get::<Option<Vec<u8>>, _>(i).map(|v| {
                                String::from_utf8_lossy(&v.unwrap_or_default()).into_owned()
                            })
                        })
                        .unwrap_or_default();
                    out.push_str(&format!(" {}={v}", c.name()));
                }
                out.push('\n');
            }
        }
    }
    out
}

async fn deleting_the_account_leaves_nothing_personal(backend: Backend) {
    let rig = rig(backend).await;
    let phone = "+12155550190";
    let (access, refresh) = rig.sign_in(phone).await;
    let person: i64 = claims(&access)["sub"].as_str().unwrap().parse().unwrap();
    let r = rig
        .app
        .http
        .patch(rig.app.url("/v1/me"))
        .header("x-api-key", &rig.app_key)
        .bearer_auth(&access)
        .json(&json!({"given_name": "Zebulon", "family_name": "Quimby", "skills": ["driving"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A text from staff, a registration, and a STOP: traces everywhere.
    let r = rig
        .app
        .http
        .post(rig.app.url("/v1/messages"))
        .header("x-api-key", &rig.staff_key)
        .json(&json!({"channel": "sms", "to": {"person_id": person},
            "template": {"body": "Thanks {{ given_name }}!"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    until("the staff text is sent", async || {
        outbox(&rig.dir, "sms.ndjson")
            .iter()
            .any(|l| l["body"].as_str().unwrap().contains("Zebulon"))
            .then_some(())
    })
    .await;
    rig.inbound("SM-in-1", phone, "Zebulon here, count me in")
        .await;
    rig.inbound("SM-in-2", phone, "STOP").await;
    // Indexed, and found by name.
    rig.until_people_found("q=Zebulon", 1).await;

    let r = rig
        .app
        .http
        .delete(rig.app.url("/v1/me"))
        .header("x-api-key", &rig.app_key)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    let dump = dump_store(rig.store()).await;
    for trace in [phone, "2155550190", "Zebulon", "Quimby"] {
        let found: Vec<&str> = dump.lines().filter(|l| l.contains(trace)).collect();
        assert!(found.is_empty(), "{trace} remains in the store: {found:#?}");
    }
    for file in ["sms.ndjson", "email.ndjson"] {
        for line in outbox(&rig.dir, file) {
            let text = line.to_string();
            assert!(!text.contains(phone) && !text.contains("Zebulon"), "{text}");
        }
    }
    rig.until_people_found("q=Zebulon", 0).await;
    assert_eq!(
        rig.get("/v1/me", &rig.app_key, Some(&access))
            .await
            .status(),
        404
    );
    assert_eq!(rig.refresh(&refresh).await.status(), 400);

    // The number comes back in an import: it is still opted out, so a
    // campaign does not text it.
    let again: Value = rig
        .app
        .http
        .post(rig.app.url("/v1/people"))
        .header("x-api-key", &rig.staff_key)
        .json(&json!({"given_name": "New owner",
            "phone_numbers": [{"number": phone, "primary": true, "sms_capable": true}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let campaign: Value = rig
        .app
        .http
        .post(rig.app.url("/v1/campaigns"))
        .header("x-api-key", &rig.staff_key)
        .json(&json!({"name": "GOTV", "channel": "sms",
            "template": {"body": "Vote Tuesday"},
            "audience": {"person_ids": [again["id"]]}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = rig
        .app
        .http
        .post(
            rig.app
                .url(&format!("/v1/campaigns/{}/launch", campaign["id"])),
        )
        .header("x-api-key", &rig.staff_key)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let stats = until("the campaign settles", async || {
        let c: Value = rig
            .get(
                &format!("/v1/campaigns/{}", campaign["id"]),
                &rig.staff_key,
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        (c["status"] == "completed").then(|| c["stats"].clone())
    })
    .await;
    assert_eq!(stats["opted_out"], 1, "{stats}");
    assert_eq!(stats["sent"], 0, "{stats}");
    assert!(
        outbox(&rig.dir, "sms.ndjson")
            .iter()
            .all(|l| l["body"] != "Vote Tuesday")
    );
}

turnout_core::on_both_stores!(
    the_whole_flow_with_the_log_provider,
    codes_by_email_and_what_the_code_request_reveals,
    the_daily_sms_budget,
    guessing_a_code,
    repeated_failures_lock_a_destination_out,
    the_attack_matrix,
    user_routes_upstream_carry_who_is_signed_in,
    organizers_search_people_and_a_demotion_lands_at_refresh,
    registering_for_an_event_as_the_signed_in_person,
    per_user_rate_limits,
    rotating_the_signing_key,
    deleting_the_account_leaves_nothing_personal,
);
