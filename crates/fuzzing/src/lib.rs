//! The bodies of the fuzz targets in `fuzz/` (built with cargo-fuzz and a nightly toolchain).
//!
//! Each target is a plain function over bytes that calls the real entry points (the parsers,
//! normalization and validation of `marathon-api`, the Mesos wire formats of `mesos-api`, the
//! master's and the agent's pure cores, the agent's checkpoint log replay) and asserts what must
//! hold for every input: no panic, and the round trips and fixpoints named in each function.
//! `fuzz/fuzz_targets/<name>.rs` only calls the function of the same name, so the stable test
//! `tests/corpus.rs` replays every file of `fuzz/corpus/<name>/` through the same code.

mod cores;

pub use cores::{agent_protocol, mesos_call};

use marathon_api::{AppExtras, Embed, GroupEmbed, LabelSelector, NormalizeConfig, PathId};
use mesos_api::recordio;
use std::collections::BTreeMap;

/// A target: its name (the directory of its corpus) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    ("app_json", app_json),
    ("app_update_json", app_update_json),
    ("pod_json", pod_json),
    ("group_json", group_json),
    ("query_string", query_string),
    ("recordio", recordio),
    ("mesos_call", mesos_call),
    ("agent_protocol", agent_protocol),
    ("checkpoint_replay", checkpoint_replay),
];

fn config() -> NormalizeConfig {
    NormalizeConfig::default()
}

/// `POST /v2/apps`: parse, normalize and validate as the scheduler does (upstream's rules, then
/// what this cluster supports), render the answer. A definition that was accepted, rendered and
/// posted again is accepted again as the same definition (normalization is a fixpoint).
pub fn app_json(data: &[u8]) {
    let Ok(raw) = marathon_api::parse_app(data) else { return };
    let Ok(def) = scheduler::support::normalize(raw, &PathId::root(), &config()) else { return };
    let rendered = marathon_api::app_json(&def, &AppExtras::default());
    let text = serde_json::to_vec(&rendered).expect("a rendered app is JSON");
    let again = marathon_api::parse_app(&text).expect("a rendered app parses");
    let again = scheduler::support::normalize(again, &PathId::root(), &config()).expect("a rendered app is valid");
    assert_eq!(
        marathon_api::app_json(&again, &AppExtras::default()),
        rendered,
        "normalizing a rendered app changed it"
    );
}

/// `POST /v2/pods`: parse, normalize and validate as the scheduler does (upstream's rules, then
/// what this cluster supports), render the answer. A pod that was accepted, rendered and posted
/// again is accepted again as the same pod (normalization is a fixpoint), also as the body of a
/// `PUT` to its own id.
pub fn pod_json(data: &[u8]) {
    let Ok(raw) = marathon_api::parse_pod(data) else { return };
    let Ok(pod) = scheduler::support::normalize_pod(raw, None, &config()) else { return };
    let rendered = marathon_api::pod_json(&pod);
    let text = serde_json::to_vec(&rendered).expect("a rendered pod is JSON");
    let again = marathon_api::parse_pod(&text).expect("a rendered pod parses");
    let again =
        scheduler::support::normalize_pod(again, Some(&pod.path_id()), &config()).expect("a rendered pod is valid");
    assert_eq!(again, pod, "normalizing a rendered pod changed it");
    assert_eq!(marathon_api::pod_json(&again), rendered, "normalizing a rendered pod changed its JSON");
}

/// `PUT`/`PATCH /v2/apps/{id}` and `PUT /v2/apps`: one update or a list of them, applied to a
/// small valid app and normalized as the scheduler does.
pub fn app_update_json(data: &[u8]) {
    let base = marathon_api::parse_app(br#"{"id":"/fuzz/app","cmd":"sleep 1000","cpus":0.1,"mem":32}"#)
        .ok()
        .and_then(|raw| scheduler::support::normalize(raw, &PathId::root(), &config()).ok())
        .expect("the base app is valid");
    let updates = match marathon_api::parse_app_update(data) {
        Ok(update) => vec![update],
        Err(_) => match marathon_api::parse_app_updates(data) {
            Ok(updates) => updates,
            Err(_) => return,
        },
    };
    for update in updates {
        let Ok(update) = update.normalize(&PathId::root()) else { continue };
        let merged = marathon_api::apply_update(&base, &update);
        if let Ok(def) = scheduler::support::normalize(merged, &PathId::root(), &config()) {
            let _ = marathon_api::app_json(&def, &AppExtras::default());
        }
    }
}

/// `POST`/`PUT /v2/groups[/{id}]`: a GroupUpdate parsed and applied to an empty tree below
/// `/fuzz` as the scheduler does (apps normalized relative to their groups, ids checked), and
/// the dependency layers of the result computed.
pub fn group_json(data: &[u8]) {
    let Ok(update) = marathon_api::parse_group_update(data) else { return };
    let group = match &update.id {
        Some(id) => PathId::resolve(id, &PathId::parse("/fuzz")),
        None => PathId::parse("/fuzz"),
    };
    let mut tree = scheduler::groups::Tree::default();
    let version = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    if scheduler::groups::apply_update(&mut tree, &group, &update, version, &config()).is_err() {
        return;
    }
    let affected = tree.apps.keys().cloned().collect();
    let _ = tree.layers(&affected);
    let _ = tree.all_groups();
}

/// Query strings of the REST API: `embed`, the boolean flags, and label selectors, which are
/// then matched against a few labels.
pub fn query_string(data: &[u8]) {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(data).into_owned().collect();
    let _ = Embed::from_query(&pairs);
    let _ = GroupEmbed::from_query(&pairs);
    for key in ["force", "dryRun", "wipe", "scale", "partial"] {
        let _ = marathon_api::query_bool(&pairs, key, false);
    }
    let labels: BTreeMap<String, String> =
        [("a".to_string(), "1".to_string()), ("b c".to_string(), String::new())].into();
    for (key, value) in &pairs {
        if key == "label"
            && let Ok(selector) = LabelSelector::parse(value)
        {
            let _ = selector.matches(&labels);
        }
        let id = PathId::parse(value);
        let _ = id.validate();
        let _ = PathId::resolve(value, &PathId::parse("/fuzz"));
    }
}

/// RecordIO decoding: the records do not depend on how the stream is cut into chunks, and
/// framing the decoded records again gives back the stream they came from (but for leading
/// zeros of its lengths).
pub fn recordio(data: &[u8]) {
    let Some((&cut, stream)) = data.split_first() else { return };
    let whole = recordio::Decoder::new().feed(stream);
    let mut chunked = recordio::Decoder::new();
    let step = usize::from(cut).max(1);
    let mut records = Vec::new();
    let mut error = None;
    for chunk in stream.chunks(step) {
        match chunked.feed(chunk) {
            Ok(mut r) => records.append(&mut r),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    match whole {
        Ok(whole) => {
            assert_eq!(error, None, "chunks failed where the whole stream did not");
            assert_eq!(records, whole, "chunking changed the records");
            // Lengths may have leading zeros ("03\n", upstream's decoder reads them too): the
            // framing of a record is the stream's but for those.
            let mut rest = stream;
            for record in &whole {
                let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                let zeros = rest.iter().take_while(|b| **b == b'0').count().min(digits.saturating_sub(1));
                assert!(
                    rest[zeros..].starts_with(&recordio::encode(record)),
                    "framing a record again differs from the stream"
                );
                rest = &rest[digits + 1 + record.len()..];
            }
        }
        Err(e) => assert_eq!(error, Some(e), "chunks and the whole stream failed differently"),
    }
}

/// The agent's checkpoint log (`meta/checkpoint.log`) replayed as at the agent's start, whatever
/// its content: a torn or corrupted tail ends the replay. What a replay keeps replays to itself
/// (compaction is a fixpoint), and a prefix cut anywhere (a torn last write) replays to what its
/// whole lines hold.
pub fn checkpoint_replay(data: &[u8]) {
    let live = agent::checkpoint::compact_log(data);
    assert_eq!(agent::checkpoint::compact_log(&live), live, "compacting the compacted log changed it");
    // Torn tails: every cut of the live log keeps exactly its whole lines (a cut that removes
    // only the newline keeps the line: it is whole JSON).
    let cuts = data.iter().take(8).map(|b| usize::from(*b) * live.len() / 255);
    for cut in cuts {
        let torn = &live[..cut];
        let whole_lines = match torn.iter().rposition(|b| *b == b'\n') {
            Some(last) => &live[..=last],
            None => &[][..],
        };
        let expected = if live.get(cut) == Some(&b'\n') {
            agent::checkpoint::compact_log(&live[..=cut])
        } else {
            agent::checkpoint::compact_log(whole_lines)
        };
        assert_eq!(agent::checkpoint::compact_log(torn), expected, "a torn tail changed what the whole lines hold");
    }
    // A corrupted line ends the replay: the records after it are not applied.
    if let Some(first) = live.iter().position(|b| *b == b'\n') {
        let mut corrupted = live[..=first].to_vec();
        corrupted.extend_from_slice(b"{\"framework\":\x00\n");
        corrupted.extend_from_slice(&live[first + 1..]);
        assert_eq!(
            agent::checkpoint::compact_log(&corrupted),
            agent::checkpoint::compact_log(&live[..=first]),
            "records after a corrupted line were replayed"
        );
    }
}
