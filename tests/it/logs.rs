//! The logs `nexus serve` writes, as a log pipeline reads them: JSON lines on stderr (when it is
//! not a terminal), the request id on every line of a request, an access line per request, no
//! token anywhere, and no colour codes in the pretty format off a terminal.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use serde_json::{Value, json};
use tempfile::TempDir;

/// A `nexus serve` on a free port with its stderr read line by line.
pub(crate) struct Served {
    child: Child,
    pub(crate) origin: String,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

fn nexus(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nexus"));
    command
        .arg("--data-dir")
        .arg(dir)
        .env_remove("DATABASE_URL")
        .env_remove("NEXUS_LOG__FORMAT")
        .env("INTEGRATION_TOKEN_ENCRYPTION_KEY", "ab".repeat(32));
    command
}

pub(crate) fn create_key(dir: &Path) -> String {
    let out = nexus(dir)
        .args([
            "keys",
            "create",
            "--project",
            "acme",
            "--user",
            "ada@acme.test",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Served {
    /// Starts `nexus serve` with `env` and waits for the line that says where it listens, read
    /// by `addr`.
    pub(crate) fn start(
        dir: &Path,
        env: &[(&str, &str)],
        addr: impl Fn(&str) -> Option<String>,
    ) -> Served {
        let mut child = nexus(dir)
            .arg("serve")
            .env("NEXUS_SERVER__PORT", "0")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut served = Served {
            child,
            origin: String::new(),
            lines,
            seen: Vec::new(),
        };
        loop {
            let line = served.next_line().expect("serve started");
            if let Some(addr) = addr(&line) {
                served.origin = format!("http://{addr}");
                return served;
            }
        }
    }

    fn next_line(&mut self) -> Option<String> {
        let line = self.lines.recv_timeout(Duration::from_secs(60)).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Stops the process (SIGTERM) and returns every line it wrote.
    pub(crate) fn stop(mut self) -> Vec<String> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        assert!(self.child.wait().unwrap().success());
        while self.next_line().is_some() {}
        self.seen
    }
}

fn json_line(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"))
}

/// The request span's `request_id`, from the spans a JSON line was written in.
fn request_id(line: &Value) -> Option<&str> {
    line["spans"]
        .as_array()?
        .iter()
        .find(|span| span["name"] == "request")?
        .get("request_id")?
        .as_str()
}

#[tokio::test]
async fn json_logs_carry_the_request_id_and_one_access_line_per_request_without_tokens() {
    let dir = TempDir::new().unwrap();
    let key = create_key(dir.path());
    // Unset, the format is JSON: stderr is a pipe here.
    let serve = Served::start(
        dir.path(),
        &[("RUST_LOG", "info,tower_http=debug")],
        |line| {
            let line: Value = serde_json::from_str(line).ok()?;
            (line["message"] == "serving").then(|| line["addr"].as_str().unwrap().to_owned())
        },
    );
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/graphql", serve.origin))
        .bearer_auth(&key)
        .header("x-request-id", "req-logs-0001")
        .json(&json!({
            "query": "query Who { viewer { user { email } } nope }",
            "operationName": "Who",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-request-id"],
        "req-logs-0001",
        "echoed"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["requestId"], "req-logs-0001",
        "{body}"
    );
    // A query string never reaches the logs (OAuth callbacks carry codes in theirs).
    let status = client
        .get(format!(
            "{}/oauth/hubspot/callback?code=secret-code-4242&state=s",
            serve.origin
        ))
        .header("x-request-id", "req-logs-0002")
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_client_error(), "{status}");
    let lines = serve.stop();

    let parsed: Vec<Value> = lines.iter().map(|l| json_line(l)).collect();
    let of_request: Vec<&Value> = parsed
        .iter()
        .filter(|l| request_id(l) == Some("req-logs-0001"))
        .collect();
    assert!(of_request.len() >= 2, "{lines:#?}");
    let access: Vec<&&Value> = of_request
        .iter()
        .filter(|l| l["target"] == "nexus::access")
        .collect();
    assert_eq!(access.len(), 1, "{lines:#?}");
    let access = access[0];
    assert_eq!(access["method"], "POST", "{access}");
    assert_eq!(access["path"], "/graphql", "{access}");
    assert_eq!(access["status"], 200, "{access}");
    assert!(access["duration_ms"].as_f64().unwrap() > 0.0, "{access}");
    assert_eq!(access["operation"], "Who", "{access}");
    for id in ["project_id", "user_id"] {
        let value = access[id]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: {access}"));
        assert!(uuid::Uuid::parse_str(value).is_ok(), "{id}: {access}");
    }
    // Every line written while the request was served is in its span.
    for line in parsed.iter().filter(|l| {
        l["spans"]
            .as_array()
            .is_some_and(|spans| spans.iter().any(|s| s["name"] == "request"))
    }) {
        assert!(request_id(line).is_some(), "{line}");
    }

    let callback = parsed
        .iter()
        .find(|l| l["target"] == "nexus::access" && request_id(l) == Some("req-logs-0002"))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(callback["path"], "/oauth/hubspot/callback", "{callback}");
    assert_eq!(callback["method"], "GET", "{callback}");

    let all = lines.join("\n");
    assert!(!all.contains(&key), "the API key is in the logs");
    assert!(
        !all.contains(&key["nxk_".len()..]),
        "the API key is in the logs"
    );
    assert!(
        !all.contains("secret-code-4242"),
        "a query string is in the logs"
    );
}

#[tokio::test]
async fn pretty_logs_have_no_colour_codes_off_a_terminal() {
    let dir = TempDir::new().unwrap();
    let serve = Served::start(
        dir.path(),
        &[("RUST_LOG", "info"), ("NEXUS_LOG__FORMAT", "pretty")],
        |line| {
            line.contains("serving")
                .then(|| line.split("addr=").nth(1).unwrap().trim().to_owned())
        },
    );
    reqwest::get(format!("{}/healthz", serve.origin))
        .await
        .unwrap();
    let lines = serve.stop();
    assert!(
        serde_json::from_str::<Value>(&lines[0]).is_err(),
        "{lines:#?}"
    );
    let all = lines.join("\n");
    assert!(!all.contains('\u{1b}'), "{all:?}");
    assert!(all.contains("nexus::access"), "{all}");
}

#[tokio::test]
async fn an_unknown_log_format_is_refused_naming_the_setting() {
    let dir = TempDir::new().unwrap();
    let out = nexus(dir.path())
        .arg("serve")
        .env("NEXUS_LOG__FORMAT", "xml")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("log.format"), "{stderr}");
    assert!(stderr.contains("json"), "{stderr}");
}
