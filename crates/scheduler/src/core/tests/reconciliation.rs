//! Reconciliation against a master that may stay silent (a restarted master says nothing about
//! tasks on agents it still expects back): silence never replaces an instance, unanswered
//! tasks are asked about again with growing delays, and a lost agent's tasks are asked about at
//! once.

use super::*;

/// A subscribed harness with `app` running `instances` tasks on agent-1.
fn running_app(spec: RunSpec) -> (Harness, Vec<TaskId>) {
    let mut h = Harness::with_app(spec);
    let tasks = h.launch_running("o-setup");
    (h, tasks)
}

fn on_agent_1(tasks: &[TaskId]) -> Vec<(TaskId, Option<AgentId>)> {
    tasks.iter().map(|t| (t.clone(), Some(AgentId::new("agent-1")))).collect()
}

/// A reconciliation answer from the master (no uuid).
fn answer(task_id: &TaskId, state: TaskState, message: &str) -> TaskStatus {
    let mut status = TaskStatus::new(task_id.clone(), state);
    status.agent_id = Some(AgentId::new("agent-1"));
    status.reason = Some(Reason::Reconciliation);
    status.message = Some(message.to_string());
    status
}

/// The scheduler lost the master and subscribed again (the master restarted).
fn resubscribed(h: &mut Harness) -> Vec<Command> {
    h.run(Event::Disconnected);
    h.subscribe()
}

#[test]
fn a_silent_master_gets_asked_again_with_growing_delays_and_nothing_is_replaced() {
    let (mut h, tasks) = running_app(app("/web", 2));
    h.put(app("/other", 1));
    let commands = resubscribed(&mut h);
    assert_eq!(reconciles(&commands)[0].len(), 2);
    assert!(!h.core.is_reconciled());

    // The master says nothing. The unanswered tasks are asked about again after 2, 4, 8 and
    // 16 s; at 30 s launching resumes with the recorded state.
    let mut elapsed = Duration::ZERO;
    for delay in [2, 4, 8, 16] {
        let next = h.core.next_wakeup().expect("a retry is due");
        assert_eq!(next, h.now.mono + delay * SEC, "after {elapsed:?}");
        h.advance(delay * SEC);
        elapsed += delay * SEC;
        let commands = h.tick();
        assert_eq!(reconciles(&commands), vec![on_agent_1(&tasks)], "after {elapsed:?}");
        if elapsed < 30 * SEC {
            let offered = h.offer_commands(offer(&format!("o-{delay}"), "agent-2", BIG));
            assert!(accepts(&offered).is_empty(), "launching waits for the answers");
        }
    }
    assert!(h.core.is_reconciled(), "launching resumes after reconciliation_answer_timeout");
    let launched = h.launch(offer("o-late", "agent-2", BIG));
    assert_eq!(launched.len(), 1, "only /other launches: silence replaces nothing");
    assert!(launched[0].task_id.as_str().starts_with("other."));
    assert_eq!(h.running("/web").len(), 2);

    // The delay stops growing at its maximum, and the first answers end the retries.
    assert_eq!(h.core.next_wakeup(), Some(h.now.mono + 30 * SEC));
    for task in &tasks {
        h.run(Event::StatusUpdate(answer(task, TaskState::Running, "Reconciliation: Latest task state")));
    }
    h.advance(30 * SEC);
    assert!(reconciles(&h.tick()).iter().all(|r| r.is_empty()), "nothing left to ask about");
    assert_eq!(h.running("/web").len(), 2);
}

#[test]
fn an_answer_after_the_agent_came_back_ends_the_wait_early() {
    let (mut h, tasks) = running_app(app("/web", 1));
    resubscribed(&mut h);
    h.advance(2 * SEC);
    assert_eq!(reconciles(&h.tick()), vec![on_agent_1(&tasks)]);
    let commands =
        h.run(Event::StatusUpdate(answer(&tasks[0], TaskState::Running, "Reconciliation: Latest task state")));
    assert!(kills(&commands).is_empty());
    assert!(h.core.is_reconciled());
    assert_eq!(h.running("/web").len(), 1);
    assert!(h.launch(offer("o1", "agent-1", BIG)).is_empty(), "no duplicate");
}

#[test]
fn a_lost_agent_gets_its_tasks_reconciled_and_unreachable_ones_replaced() {
    let (mut h, tasks) = running_app(app("/web", 2));
    resubscribed(&mut h);
    // The master marks agent-1 unreachable after its reregister timeout: FAILURE, then the
    // tasks are reconciled at once instead of at the next retry.
    let commands = h.run(Event::AgentLost { agent_id: AgentId::new("agent-1") });
    assert_eq!(reconciles(&commands), vec![on_agent_1(&tasks)]);
    for task in &tasks {
        h.run(Event::StatusUpdate(answer(task, TaskState::Unreachable, "Reconciliation: Task is unreachable")));
    }
    assert!(h.core.is_reconciled(), "every task answered");
    // The default unreachable strategy replaces them at once.
    let launched = h.launch(offer("o2", "agent-2", BIG));
    assert_eq!(launched.len(), 2);
    assert!(launched.iter().all(|t| !tasks.contains(&t.task_id)));
}

#[test]
fn a_lost_agent_without_our_tasks_or_a_lost_executor_changes_nothing() {
    let (mut h, _) = running_app(app("/web", 1));
    assert!(reconciles(&h.run(Event::AgentLost { agent_id: AgentId::new("agent-9") })).is_empty());
    h.run(Event::Disconnected);
    assert!(reconciles(&h.run(Event::AgentLost { agent_id: AgentId::new("agent-1") })).is_empty());
}
