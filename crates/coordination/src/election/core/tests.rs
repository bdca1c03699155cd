use super::*;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn report(leadership: Leadership) -> Command {
    Command::Report(leadership)
}

fn leader(node: &str, sequence: i64) -> Leadership {
    Leadership::Leader { node: node.to_owned(), sequence }
}

fn follower(node: &str, data: &[u8]) -> Leadership {
    Leadership::Follower { leader: Some(LeaderInfo { node: node.to_owned(), data: data.to_vec() }) }
}

/// A Mesos contender that created `json.info_0000000002`.
fn mesos_member() -> Elector {
    let mut e = Elector::new(Naming::Mesos, true);
    assert_eq!(e.handle(Input::SessionStarted { session: 7 }), [Command::Create { prefix: "json.info_".into() }]);
    assert_eq!(e.handle(Input::Created { name: "json.info_0000000002".into() }), [Command::List]);
    e
}

#[test]
fn mesos_names_and_order() {
    let n = Naming::Mesos;
    assert_eq!(n.sequence("json.info_0000000012"), Some(12));
    assert_eq!(n.sequence("info_0000000001"), None);
    assert_eq!(n.sequence("log_replicas"), None);
    assert_eq!(n.sequence("json.info_"), None);
    assert_eq!(n.sequence("json.info_12x"), None);
    let members =
        n.members(&names(&["log_replicas", "json.info_0000000010", "info_0000000001", "json.info_0000000009"]));
    assert_eq!(members, vec![(9, "json.info_0000000009".to_owned()), (10, "json.info_0000000010".to_owned())]);
}

#[test]
fn curator_names_and_order() {
    let n = Naming::Curator { protection: "_c_11111111-2222-3333-4444-555555555555-".into() };
    assert_eq!(n.create_prefix(), "_c_11111111-2222-3333-4444-555555555555-latch-");
    // Ordered by the sequence after the last `latch-`, whatever the protection prefix.
    let children = names(&[
        "_c_ffffffff-0000-0000-0000-000000000000-latch-0000000003",
        "_c_00000000-0000-0000-0000-000000000000-latch-0000000005",
        "latch-0000000004",
        "unrelated",
    ]);
    let members = n.members(&children);
    assert_eq!(members.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [3, 4, 5]);
    assert!(Naming::curator().create_prefix().starts_with("_c_"));
    assert_ne!(Naming::curator(), Naming::curator());
}

#[test]
fn the_lowest_member_leads() {
    let mut e = mesos_member();
    assert_eq!(
        e.handle(Input::Children { names: names(&["json.info_0000000002", "json.info_0000000003", "log_replicas"]) }),
        [report(leader("json.info_0000000002", 2))]
    );
    assert!(e.leadership().is_leader());
    // A new follower joins: still leading, nothing to report.
    assert_eq!(e.handle(Input::ChildrenChanged), [Command::List]);
    assert_eq!(e.handle(Input::Children { names: names(&["json.info_0000000002", "json.info_0000000004"]) }), []);
}

#[test]
fn a_follower_reads_the_leader_and_takes_over_when_it_goes() {
    let mut e = mesos_member();
    assert_eq!(
        e.handle(Input::Children { names: names(&["json.info_0000000001", "json.info_0000000002"]) }),
        [Command::ReadLeader { node: "json.info_0000000001".into() }]
    );
    assert_eq!(
        e.handle(Input::LeaderData { node: "json.info_0000000001".into(), data: Some(b"{m1}".to_vec()) }),
        [report(follower("json.info_0000000001", b"{m1}"))]
    );
    // The same leader in the next listing: no new read.
    assert_eq!(e.handle(Input::ChildrenChanged), [Command::List]);
    assert_eq!(e.handle(Input::Children { names: names(&["json.info_0000000001", "json.info_0000000002"]) }), []);
    // The leader's node goes: we lead.
    assert_eq!(e.handle(Input::ChildrenChanged), [Command::List]);
    assert_eq!(
        e.handle(Input::Children { names: names(&["json.info_0000000002"]) }),
        [report(leader("json.info_0000000002", 2))]
    );
}

#[test]
fn a_stale_read_of_a_former_leader_is_ignored() {
    let mut e = mesos_member();
    e.handle(Input::Children { names: names(&["json.info_0000000000", "json.info_0000000002"]) });
    assert_eq!(e.handle(Input::ChildrenChanged), [Command::List]);
    assert_eq!(
        e.handle(Input::Children { names: names(&["json.info_0000000001", "json.info_0000000002"]) }),
        [Command::ReadLeader { node: "json.info_0000000001".into() }]
    );
    // The read of the first leader answers late: ignored.
    assert_eq!(e.handle(Input::LeaderData { node: "json.info_0000000000".into(), data: Some(b"old".to_vec()) }), []);
    assert_eq!(
        e.handle(Input::LeaderData { node: "json.info_0000000001".into(), data: Some(b"new".to_vec()) }),
        [report(follower("json.info_0000000001", b"new"))]
    );
}

#[test]
fn a_leader_node_gone_before_its_data_was_read_means_list_again() {
    let mut e = mesos_member();
    e.handle(Input::Children { names: names(&["json.info_0000000001", "json.info_0000000002"]) });
    assert_eq!(e.handle(Input::LeaderData { node: "json.info_0000000001".into(), data: None }), [Command::List]);
}

#[test]
fn disconnection_is_reported_at_once_and_a_reconnection_lists_again() {
    let mut e = mesos_member();
    e.handle(Input::Children { names: names(&["json.info_0000000002"]) });
    assert!(e.leadership().is_leader());
    assert_eq!(e.handle(Input::Disconnected), [report(Leadership::Unknown)]);
    // A listing answered before the disconnection but seen after it is ignored.
    assert_eq!(e.handle(Input::Children { names: names(&["json.info_0000000002"]) }), []);
    assert_eq!(e.handle(Input::Reconnected), [Command::List]);
    assert_eq!(
        e.handle(Input::Children { names: names(&["json.info_0000000002"]) }),
        [report(leader("json.info_0000000002", 2))]
    );
}

#[test]
fn an_expired_session_reports_the_loss_first_then_contends_again_on_a_new_session() {
    let mut e = mesos_member();
    e.handle(Input::Children { names: names(&["json.info_0000000002"]) });
    assert_eq!(e.handle(Input::SessionEnded), [report(Leadership::Unknown), Command::NewSession]);
    // Nothing of the old session counts any more.
    assert_eq!(e.handle(Input::Reconnected), []);
    assert_eq!(e.handle(Input::Children { names: names(&["json.info_0000000002"]) }), []);
    assert_eq!(e.handle(Input::SessionStarted { session: 8 }), [Command::Create { prefix: "json.info_".into() }]);
    assert_eq!(e.handle(Input::Created { name: "json.info_0000000005".into() }), [Command::List]);
    assert_eq!(
        e.handle(Input::Children { names: names(&["json.info_0000000003", "json.info_0000000005"]) }),
        [Command::ReadLeader { node: "json.info_0000000003".into() }]
    );
}

#[test]
fn a_create_of_unknown_outcome_is_resolved_by_ownership() {
    let mut e = Elector::new(Naming::Mesos, true);
    e.handle(Input::SessionStarted { session: 7 });
    assert_eq!(e.handle(Input::Disconnected), []);
    assert_eq!(e.handle(Input::CreateUnknown), []);
    assert_eq!(e.handle(Input::Reconnected), [Command::FindOwn]);
    assert_eq!(e.handle(Input::OwnFound { name: Some("json.info_0000000004".into()) }), [Command::List]);
    assert_eq!(
        e.handle(Input::Children { names: names(&["json.info_0000000004"]) }),
        [report(leader("json.info_0000000004", 4))]
    );

    // Not found: create again.
    let mut e = Elector::new(Naming::Mesos, true);
    e.handle(Input::SessionStarted { session: 7 });
    assert_eq!(e.handle(Input::CreateUnknown), [Command::FindOwn]);
    assert_eq!(e.handle(Input::OwnFound { name: None }), [Command::Create { prefix: "json.info_".into() }]);
}

#[test]
fn our_node_deleted_by_someone_else_is_created_again() {
    let mut e = mesos_member();
    e.handle(Input::Children { names: names(&["json.info_0000000002"]) });
    assert_eq!(
        e.handle(Input::Children { names: names(&["json.info_0000000003"]) }),
        [report(Leadership::Unknown), Command::Create { prefix: "json.info_".into() }]
    );
}

#[test]
fn abdication_deletes_the_node_and_queues_again() {
    let mut e = mesos_member();
    e.handle(Input::Children { names: names(&["json.info_0000000002", "json.info_0000000003"]) });
    assert_eq!(
        e.handle(Input::Abdicate),
        [
            report(Leadership::Unknown),
            Command::Delete { node: "json.info_0000000002".into() },
            Command::Create { prefix: "json.info_".into() }
        ]
    );
    assert_eq!(e.handle(Input::Created { name: "json.info_0000000004".into() }), [Command::List]);
    assert_eq!(
        e.handle(Input::Children { names: names(&["json.info_0000000003", "json.info_0000000004"]) }),
        [Command::ReadLeader { node: "json.info_0000000003".into() }]
    );
}

#[test]
fn stopping_deletes_the_node_and_ignores_everything_after() {
    let mut e = mesos_member();
    e.handle(Input::Children { names: names(&["json.info_0000000002"]) });
    assert_eq!(
        e.handle(Input::Stop),
        [report(Leadership::Unknown), Command::Delete { node: "json.info_0000000002".into() }, Command::Exit]
    );
    assert_eq!(e.handle(Input::SessionEnded), []);
    // A create that completes after we stopped wanting it is removed.
    let mut e = Elector::new(Naming::Mesos, true);
    e.handle(Input::SessionStarted { session: 1 });
    e.handle(Input::Stop);
    assert_eq!(e.handle(Input::Created { name: "json.info_0000000001".into() }), []);
}

#[test]
fn observers_only_follow() {
    let mut e = Elector::new(Naming::Mesos, false);
    assert_eq!(e.handle(Input::SessionStarted { session: 1 }), [Command::List]);
    assert_eq!(e.handle(Input::Children { names: names(&[]) }), [report(Leadership::Follower { leader: None })]);
    assert_eq!(e.handle(Input::ChildrenChanged), [Command::List]);
    assert_eq!(
        e.handle(Input::Children { names: names(&["json.info_0000000001"]) }),
        [Command::ReadLeader { node: "json.info_0000000001".into() }]
    );
    assert_eq!(
        e.handle(Input::LeaderData { node: "json.info_0000000001".into(), data: Some(b"m".to_vec()) }),
        [report(follower("json.info_0000000001", b"m"))]
    );
    assert_eq!(e.handle(Input::Abdicate), []);
    assert_eq!(e.handle(Input::SessionEnded), [report(Leadership::Unknown), Command::NewSession]);
    assert_eq!(e.handle(Input::SessionStarted { session: 2 }), [Command::List]);
}

#[test]
fn one_listing_at_a_time() {
    let mut e = mesos_member();
    // A change while the listing is in flight: one more listing after it.
    assert_eq!(e.handle(Input::ChildrenChanged), []);
    assert_eq!(e.handle(Input::ChildrenChanged), []);
    assert_eq!(
        e.handle(Input::Children { names: names(&["json.info_0000000002"]) }),
        [Command::List, report(leader("json.info_0000000002", 2))]
    );
    assert_eq!(e.handle(Input::Children { names: names(&["json.info_0000000002"]) }), []);
}

#[test]
fn an_unexpected_failure_starts_a_new_session() {
    let mut e = mesos_member();
    e.handle(Input::Children { names: names(&["json.info_0000000002"]) });
    assert_eq!(e.handle(Input::Failed), [report(Leadership::Unknown), Command::NewSession]);
    assert_eq!(e.handle(Input::SessionStarted { session: 9 }), [Command::Create { prefix: "json.info_".into() }]);
}
