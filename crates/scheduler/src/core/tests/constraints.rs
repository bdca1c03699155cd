//! Placement constraints end to end: offers in, launches and queue statistics out.

use super::*;

fn constraint(field: &str, operator: ConstraintOperator, value: Option<&str>) -> Constraint {
    Constraint { field: field.into(), operator, value: value.map(str::to_string) }
}

fn hosts_of(h: &Harness, app: &str) -> Vec<String> {
    h.instances(app).iter().filter_map(|i| i.task.as_ref()).map(|t| t.hostname.clone()).collect()
}

/// Reports every task of `infos` running.
fn run_all(h: &mut Harness, infos: &[TaskInfo]) {
    for info in infos {
        h.update(&info.task_id, TaskState::Running);
    }
}

#[test]
fn unique_hostname_places_one_instance_per_agent_and_queues_the_rest() {
    let mut h = Harness::subscribed();
    let mut spec = app("/web", 6);
    spec.constraints = vec![constraint("hostname", ConstraintOperator::Unique, None)];
    h.put(spec);
    for n in 1..=5 {
        let infos = h.launch(offer(&format!("o{n}"), &format!("agent-{n}"), BIG));
        assert_eq!(infos.len(), 1, "one instance per agent, even on a big offer");
    }
    let hosts: BTreeSet<String> = hosts_of(&h, "/web").into_iter().collect();
    assert_eq!(hosts.len(), 5);

    // Agent 1 again: nothing fits, the sixth instance keeps waiting.
    let commands = h.offer_commands(offer("o6", "agent-1", BIG));
    assert!(accepts(&commands).is_empty());
    assert_eq!(declines(&commands).len(), 1);
    let queue = h.core.queue(h.now);
    assert_eq!(queue.len(), 1);
    assert_eq!((queue[0].app_id.as_str(), queue[0].count), ("/web", 1));
    let stats = &queue[0].offer_stats;
    assert_eq!(stats.reason_counts.get(&NoMatchReason::UnfulfilledConstraint), Some(&1));
    let last = stats.last_unused_offers.back().expect("unused offer");
    assert_eq!(
        (last.hostname.as_str(), last.reasons.clone()),
        ("agent-1.example.com", vec![NoMatchReason::UnfulfilledConstraint])
    );
    let funnel = stats.reject_summary_launch_attempt();
    let row = funnel.iter().find(|r| r.reason == NoMatchReason::UnfulfilledConstraint).expect("constraint row");
    assert_eq!(row.declined, 1);

    // A sixth agent takes it.
    assert_eq!(h.launch(offer("o7", "agent-6", BIG)).len(), 1);
    assert!(h.core.queue(h.now).is_empty());
}

#[test]
fn instances_launched_from_one_offer_count_as_placed() {
    let mut h = Harness::subscribed();
    let mut unique = app("/unique", 3);
    unique.constraints = vec![constraint("hostname", ConstraintOperator::Unique, None)];
    let mut max_per = app("/max-per", 4);
    max_per.constraints = vec![constraint("rack", ConstraintOperator::MaxPer, Some("2"))];
    h.put(unique);
    h.put(max_per);
    let infos = h.launch(offer_with_attributes("o1", "agent-1", BIG, &[("rack", "r1")]));
    let of = |prefix: &str| infos.iter().filter(|t| t.task_id.value.starts_with(prefix)).count();
    assert_eq!((of("unique."), of("max-per.")), (1, 2));
    // Another agent in the same rack: only the UNIQUE app may use it.
    let infos = h.launch(offer_with_attributes("o2", "agent-2", BIG, &[("rack", "r1")]));
    assert_eq!(infos.len(), 1);
    assert!(infos[0].task_id.value.starts_with("unique."));
}

#[test]
fn tasks_keep_their_agent_fields_in_the_store() {
    let mut h = Harness::subscribed();
    let mut spec = app("/web", 1);
    spec.constraints = vec![constraint("@zone", ConstraintOperator::Like, Some("eu-.*"))];
    h.put(spec);
    let mut eu = offer_with_attributes("o1", "agent-1", BIG, &[("rack", "r1"), ("rack", "ignored")]);
    eu.domain = Some(serde_json::json!({"fault_domain": {"region": {"name": "eu"}, "zone": {"name": "eu-1"}}}));
    let us = Offer {
        domain: Some(serde_json::json!({"fault_domain": {"region": {"name": "us"}, "zone": {"name": "us-1"}}})),
        ..offer("o0", "agent-0", BIG)
    };
    assert!(h.launch(us).is_empty());
    assert_eq!(h.launch(eu).len(), 1);
    let stored = h.store.instances.values().next().expect("stored instance");
    let task = stored.task.as_ref().expect("task");
    assert_eq!(task.attributes, vec![("rack".to_string(), "r1".to_string())]);
    assert_eq!((task.region.as_deref(), task.zone.as_deref()), (Some("eu"), Some("eu-1")));
}

#[test]
fn group_by_scale_down_keeps_the_groups_even() {
    let mut h = Harness::subscribed();
    let mut spec = app("/web", 4);
    spec.constraints = vec![constraint("rack", ConstraintOperator::GroupBy, None)];
    h.put(spec.clone());
    // Only rack r1 offers at first: with one group, the classic rule lets all four in.
    let infos = h.launch(offer_with_attributes("o1", "agent-1", BIG, &[("rack", "r1")]));
    assert_eq!(infos.len(), 4);
    run_all(&mut h, &infos);
    h.advance(SEC);
    // Two more on rack r2: a new value, then the smallest group (r1 4, r2 1).
    h.put(RunSpec { instances: 6, version: Timestamp::from_millis(T0 + 1), ..spec.clone() });
    let infos = h.launch(offer_with_attributes("o2", "agent-2", BIG, &[("rack", "r2")]));
    assert_eq!(infos.len(), 2);
    run_all(&mut h, &infos);
    // Scaling down to 4 takes the surplus from r1 (the plain kill order would take the two
    // youngest, both in r2).
    h.advance(SEC);
    let commands = h.put(RunSpec { instances: 4, version: Timestamp::from_millis(T0 + 2), ..spec });
    let killed = kills(&commands);
    assert_eq!(killed.len(), 2);
    for task_id in &killed {
        let instance = h.core.instance_of_task(task_id).expect("instance");
        assert_eq!(instance.task.as_ref().map(|t| t.hostname.as_str()), Some("agent-1.example.com"));
        assert_eq!(instance.goal, Goal::Decommissioned);
    }
}

#[test]
fn group_by_with_a_value_spreads_over_the_wanted_number_of_groups() {
    let mut h = Harness::subscribed();
    let mut spec = app("/web", 5);
    spec.constraints = vec![constraint("rack", ConstraintOperator::GroupBy, Some("2"))];
    h.put(spec);
    // 5 over 2 racks: 2 each and one more in the first rack that takes it.
    assert_eq!(h.launch(offer_with_attributes("o1", "agent-1", BIG, &[("rack", "r1")])).len(), 3);
    assert_eq!(h.launch(offer_with_attributes("o2", "agent-2", BIG, &[("rack", "r2")])).len(), 2);
    assert!(h.core.queue(h.now).is_empty());
}

#[test]
fn instances_of_an_old_config_do_not_count_as_placed() {
    let mut h = Harness::subscribed();
    let mut spec = app("/web", 2);
    spec.constraints = vec![constraint("hostname", ConstraintOperator::Unique, None)];
    h.put(spec);
    for n in 1..=2 {
        let infos = h.launch(offer(&format!("o{n}"), &format!("agent-{n}"), BIG));
        assert_eq!(infos.len(), 1);
        run_all(&mut h, &infos);
    }
    // A restart replaces both: the new instances may go where old ones still run, but still
    // only one per agent.
    h.advance(SEC);
    h.run(Event::AppRestart { id: AppId::new("/web"), version: Timestamp::from_millis(T0 + 1_000) });
    assert_eq!(h.launch(offer("o3", "agent-1", BIG)).len(), 1);
    assert_eq!(h.launch(offer("o4", "agent-1", BIG)).len(), 0);
    assert_eq!(h.launch(offer("o5", "agent-2", BIG)).len(), 1);
}
