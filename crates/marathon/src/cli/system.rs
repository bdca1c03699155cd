//! `marathon info`, `marathon leader ...`, `marathon queue ...` and `marathon events`: the
//! scheduler itself, its launch queue and its event stream.

use super::*;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum LeaderCommand {
    /// The leading scheduler's address.
    Show,
    /// Make the leading scheduler give up leadership (another one is elected).
    Abdicate,
}

#[derive(Debug, Subcommand)]
pub(crate) enum QueueCommand {
    /// Instances waiting to be launched, with their delay and the offers that did not fit.
    List,
    /// Launch an app's waiting instances now: reset its launch delay (backoff).
    Reset { app: String },
}

/// Runs `marathon info`: the scheduler's identity and configuration.
pub(crate) async fn info(flags: &ClientFlags) -> anyhow::Result<()> {
    let api = Api::new(flags)?;
    let info = api.get("/v2/info").await?;
    if flags.json {
        return print_json(&info);
    }
    let mut t = table(&["KEY", "VALUE"]);
    for key in ["name", "version", "leader", "frameworkId", "elected"] {
        t.add_row(vec![key.to_string(), text(&info[key])]);
    }
    for section in ["marathon_config", "zookeeper_config", "http_config", "event_subscriber"] {
        if let Value::Object(entries) = &info[section] {
            for (key, value) in entries {
                t.add_row(vec![format!("{section}.{key}"), text(value)]);
            }
        }
    }
    print(t)
}

/// Runs `marathon leader ...`.
pub(crate) async fn leader(flags: &ClientFlags, command: LeaderCommand) -> anyhow::Result<()> {
    let api = Api::new(flags)?;
    let body = match command {
        LeaderCommand::Show => api.get("/v2/leader").await?,
        LeaderCommand::Abdicate => api.send(reqwest::Method::DELETE, "/v2/leader", None).await?,
    };
    if flags.json {
        return print_json(&body);
    }
    match command {
        LeaderCommand::Show => print(text(&body["leader"])),
        LeaderCommand::Abdicate => print(text(&body["message"])),
    }
}

/// Runs `marathon queue ...`.
pub(crate) async fn queue(flags: &ClientFlags, command: QueueCommand) -> anyhow::Result<()> {
    let api = Api::new(flags)?;
    match command {
        QueueCommand::List => {
            let queue = api.get("/v2/queue").await?;
            if flags.json {
                return print_json(&queue);
            }
            let mut t = table(&["APP", "WAITING", "OVERDUE", "DELAY (S)", "LAST OFFERS", "UNMET"]);
            for item in array(&queue["queue"]) {
                let id = item.get("app").or_else(|| item.get("pod")).map_or(Value::Null, |r| r["id"].clone());
                let summary = &item["processedOffersSummary"];
                t.add_row(vec![
                    text(&id),
                    text(&item["count"]),
                    text(&item["delay"]["overdue"]),
                    text(&item["delay"]["timeLeftSeconds"]),
                    format!(
                        "{} processed, {} unused",
                        text(&summary["processedOffersCount"]),
                        text(&summary["unusedOffersCount"])
                    ),
                    unmet(summary),
                ]);
            }
            print(t)
        }
        QueueCommand::Reset { app } => {
            let path = format!("/v2/queue/{}/delay", app.trim_matches('/'));
            api.send(reqwest::Method::DELETE, &path, None).await?;
            if flags.json {
                return print_json(&serde_json::json!({"app": absolute(&app), "delayReset": true}));
            }
            print(format!("Reset the launch delay of {}", absolute(&app)))
        }
    }
}

/// The reasons offers were declined in the last round (`rejectSummaryLastOffers`), the most
/// frequent first: why an instance is not placed.
fn unmet(summary: &Value) -> String {
    let mut reasons: Vec<(u64, String)> = array(&summary["rejectSummaryLastOffers"])
        .iter()
        .filter_map(|r| {
            let declined = r["declined"].as_u64().unwrap_or(0);
            (declined > 0).then(|| (declined, text(&r["reason"])))
        })
        .collect();
    reasons.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    if reasons.is_empty() {
        return "-".to_string();
    }
    reasons.iter().map(|(n, reason)| format!("{reason} ({n})")).collect::<Vec<_>>().join(", ")
}

/// Runs `marathon events`: the event stream, one readable line per event (or each event's JSON
/// with `--json`), until the stream ends or the process is interrupted.
pub(crate) async fn events(flags: &ClientFlags, event_types: &[String]) -> anyhow::Result<()> {
    let api = Api::new(flags)?;
    let mut path = "/v2/events".to_string();
    for (i, event_type) in event_types.iter().enumerate() {
        path.push(if i == 0 { '?' } else { '&' });
        path.push_str("event_type=");
        path.push_str(event_type);
    }
    let url = format!("{}{path}", api.base);
    // The stream has no end: only the connection may time out, never the whole request.
    let http = reqwest::Client::builder().connect_timeout(REQUEST_TIMEOUT).build().context("create the HTTP client")?;
    let mut response = http
        .get(&url)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .send()
        .await
        .with_context(|| format!("GET {url}: cannot reach Marathon at {}", api.base))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        return Err(ApiError { method: reqwest::Method::GET, path, status, body }.into());
    }
    let mut parser = SseParser::default();
    while let Some(chunk) = response.chunk().await.context("read the event stream")? {
        for data in parser.feed(&chunk) {
            let event: Value = serde_json::from_str(&data).unwrap_or(Value::String(data));
            if flags.json {
                print(serde_json::to_string(&event)?)?;
            } else {
                print(describe_event(&event))?;
            }
        }
    }
    Ok(())
}

/// Splits a server-sent event stream into its events' `data`.
#[derive(Debug, Default)]
struct SseParser {
    /// Bytes after the last complete line.
    pending: Vec<u8>,
    /// The data lines of the event being read.
    data: Vec<String>,
}

impl SseParser {
    fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    events.push(self.data.join("\n"));
                    self.data.clear();
                }
            } else if let Some(data) = line.strip_prefix("data:") {
                self.data.push(data.strip_prefix(' ').unwrap_or(data).to_string());
            }
        }
        events
    }
}

/// One event as a line: its time, its type and what it is about.
fn describe_event(event: &Value) -> String {
    let time = event["timestamp"].as_str().unwrap_or("-");
    let kind = event["eventType"].as_str().unwrap_or("event");
    let mut facts = Vec::new();
    for (key, label) in [
        ("appId", "app"),
        ("taskId", "task"),
        ("instanceId", "instance"),
        ("taskStatus", "status"),
        ("host", "host"),
        ("alive", "alive"),
        ("healthy", "healthy"),
        ("version", "version"),
        ("groupId", "group"),
        ("message", "message"),
        ("remoteAddress", "from"),
        ("callbackUrl", "callback"),
    ] {
        if let Some(value) = event.get(key).filter(|v| !v.is_null()) {
            facts.push(format!("{label}={}", text(value)));
        }
    }
    if let Some(plan) = event.get("plan").or_else(|| event.get("id").filter(|_| kind.starts_with("deployment"))) {
        let id = plan.get("id").unwrap_or(plan);
        facts.push(format!("deployment={}", text(id)));
    }
    if let Some(step) = event.get("currentStep") {
        let actions: Vec<String> =
            array(&step["actions"]).iter().map(|a| format!("{} {}", text(&a["action"]), text(&a["app"]))).collect();
        if !actions.is_empty() {
            facts.push(format!("step=[{}]", actions.join(", ")));
        }
    }
    format!("{time} {kind} {}", facts.join(" ")).trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_parser_splits_events_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.feed(b"event: status_update_event\ndata: {\"a\"").is_empty());
        assert_eq!(p.feed(b":1}\n\nevent: x\r\ndata: 2\r\n\r\n"), vec!["{\"a\":1}".to_string(), "2".to_string()]);
        assert!(p.feed(b": keep-alive comment\n\n").is_empty());
    }

    #[test]
    fn events_read_as_one_line() {
        let status = json!({"eventType": "status_update_event", "timestamp": "2026-12-07T00:00:00.000Z",
            "appId": "/web", "taskId": "web.1", "taskStatus": "TASK_RUNNING", "host": "h1"});
        assert_eq!(
            describe_event(&status),
            "2026-12-07T00:00:00.000Z status_update_event app=/web task=web.1 status=TASK_RUNNING host=h1"
        );
        let deployment = json!({"eventType": "deployment_success", "timestamp": "t", "id": "d-1",
            "plan": {"id": "d-1"}});
        assert_eq!(describe_event(&deployment), "t deployment_success deployment=d-1");
    }

    #[test]
    fn unmet_lists_the_most_frequent_reason_first() {
        let summary = json!({"rejectSummaryLastOffers": [
            {"reason": "InsufficientMemory", "declined": 2, "processed": 3},
            {"reason": "InsufficientCpus", "declined": 3, "processed": 3},
            {"reason": "UnfulfilledRole", "declined": 0, "processed": 3},
        ]});
        assert_eq!(unmet(&summary), "InsufficientCpus (3), InsufficientMemory (2)");
        assert_eq!(unmet(&json!({})), "-");
    }
}
