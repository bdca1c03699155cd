//! The instances of every app, stored so that walking one app's instances costs no lookups.
//!
//! Most of a step's work looks at every instance of one app (converging it, counting what is
//! scheduled, judging a deployment), and instance ids of one app share their long prefix
//! (`<safeAppId>.instance-`), so a map lookup per instance costs about a dozen comparisons of
//! 40-byte strings. Instances therefore live in slots; an id index and a per-app index (both in
//! id order, like the maps they replace) point at the slots, and walking an app follows its
//! index in order without searching. Each slot also holds the instance's [`Runtime`] (what the
//! core keeps in memory only, for deadlines), so questions asked of every instance, such as the
//! next deadline, walk the slots without any lookup.

use super::Runtime;
use super::instance::{Instance, InstanceId};
use super::run_spec::AppId;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
struct Slot {
    instance: Instance,
    runtime: Runtime,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Instances {
    slots: Vec<Option<Slot>>,
    /// Empty slots, reused last-freed first (deterministic).
    free: Vec<usize>,
    index: BTreeMap<InstanceId, usize>,
    by_app: BTreeMap<AppId, BTreeMap<InstanceId, usize>>,
}

impl Instances {
    fn slot(&self, slot: usize) -> Option<&Instance> {
        self.slots.get(slot).and_then(Option::as_ref).map(|s| &s.instance)
    }

    pub(super) fn get(&self, id: &InstanceId) -> Option<&Instance> {
        self.index.get(id).and_then(|slot| self.slot(*slot))
    }

    /// The instance to change in place. Its `id` and `app_id` must not change (they are what it
    /// is indexed by).
    pub(super) fn get_mut(&mut self, id: &InstanceId) -> Option<&mut Instance> {
        let slot = *self.index.get(id)?;
        self.slots.get_mut(slot).and_then(Option::as_mut).map(|s| &mut s.instance)
    }

    /// The instance and its runtime, to change both in place (the same rule as [`Self::get_mut`]).
    pub(super) fn get_mut_with_runtime(&mut self, id: &InstanceId) -> Option<(&mut Instance, &mut Runtime)> {
        let slot = *self.index.get(id)?;
        self.slots.get_mut(slot).and_then(Option::as_mut).map(|s| (&mut s.instance, &mut s.runtime))
    }

    pub(super) fn runtime(&self, id: &InstanceId) -> Option<&Runtime> {
        let slot = *self.index.get(id)?;
        self.slots.get(slot).and_then(Option::as_ref).map(|s| &s.runtime)
    }

    /// Every instance with its runtime, in no particular order (for questions whose answer does
    /// not depend on the order, such as the earliest deadline): a walk of the slots.
    pub(super) fn with_runtimes(&self) -> impl Iterator<Item = (&Instance, &Runtime)> {
        self.slots.iter().flatten().map(|s| (&s.instance, &s.runtime))
    }

    pub(super) fn contains_key(&self, id: &InstanceId) -> bool {
        self.index.contains_key(id)
    }

    /// Adds an instance, or replaces the one with its id.
    pub(super) fn insert(&mut self, instance: Instance, runtime: Runtime) {
        self.remove(&instance.id);
        let id = instance.id.clone();
        let app_id = instance.app_id.clone();
        let entry = Slot { instance, runtime };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(entry);
                slot
            }
            None => {
                self.slots.push(Some(entry));
                self.slots.len() - 1
            }
        };
        self.by_app.entry(app_id).or_default().insert(id.clone(), slot);
        self.index.insert(id, slot);
    }

    pub(super) fn remove(&mut self, id: &InstanceId) -> Option<Instance> {
        let slot = self.index.remove(id)?;
        let instance = self.slots.get_mut(slot).and_then(Option::take)?.instance;
        self.free.push(slot);
        if let Some(ids) = self.by_app.get_mut(&instance.app_id) {
            ids.remove(id);
            if ids.is_empty() {
                self.by_app.remove(&instance.app_id);
            }
        }
        Some(instance)
    }

    /// Every instance, in id order.
    pub(super) fn values(&self) -> impl Iterator<Item = &Instance> {
        self.index.values().filter_map(|slot| self.slot(*slot))
    }

    /// Every instance id, in order.
    pub(super) fn keys(&self) -> impl Iterator<Item = &InstanceId> {
        self.index.keys()
    }

    /// The instances of one app, in id order.
    pub(super) fn of_app<'a>(&'a self, app_id: &AppId) -> impl Iterator<Item = &'a Instance> + 'a {
        self.by_app.get(app_id).into_iter().flat_map(|ids| ids.values()).filter_map(|slot| self.slot(*slot))
    }

    /// The ids of one app's instances, in order.
    pub(super) fn ids_of_app<'a>(&'a self, app_id: &AppId) -> impl Iterator<Item = &'a InstanceId> + 'a {
        self.by_app.get(app_id).into_iter().flat_map(|ids| ids.keys())
    }

    /// Calls `f` on every instance of one app, in id order (`f` must not change `id` or
    /// `app_id`).
    pub(super) fn update_app(&mut self, app_id: &AppId, mut f: impl FnMut(&mut Instance)) {
        let Some(ids) = self.by_app.get(app_id) else { return };
        for slot in ids.values() {
            if let Some(entry) = self.slots.get_mut(*slot).and_then(Option::as_mut) {
                f(&mut entry.instance);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::instance::{Condition, Goal};
    use super::super::time::Timestamp;
    use super::*;

    fn instance(app: &str, n: u128) -> Instance {
        let app_id = AppId::new(app);
        Instance {
            id: InstanceId::new(&app_id, uuid::Uuid::from_u128(n)),
            app_id,
            run_spec_version: Timestamp::from_millis(0),
            goal: Goal::Running,
            condition: Condition::Scheduled,
            condition_since: Timestamp::from_millis(0),
            incarnation: 0,
            task: None,
            unreachable_since: None,
            role: "*".into(),
        }
    }

    fn runtime(secs: u64) -> Runtime {
        Runtime { condition_changed: std::time::Duration::from_secs(secs), unreachable_at: None }
    }

    fn ids<'a>(it: impl Iterator<Item = &'a Instance>) -> Vec<InstanceId> {
        it.map(|i| i.id.clone()).collect()
    }

    #[test]
    fn indexes_follow_inserts_replacements_and_removals() {
        let mut table = Instances::default();
        let (a1, a2, b1) = (instance("/a", 2), instance("/a", 1), instance("/b", 3));
        for (n, i) in [&a1, &b1, &a2].into_iter().enumerate() {
            table.insert(i.clone(), runtime(n as u64));
        }
        let mut all = vec![a1.id.clone(), a2.id.clone(), b1.id.clone()];
        all.sort();
        assert_eq!(ids(table.values()), all);
        assert_eq!(table.keys().cloned().collect::<Vec<_>>(), all);
        let mut of_a = vec![a1.id.clone(), a2.id.clone()];
        of_a.sort();
        assert_eq!(ids(table.of_app(&AppId::new("/a"))), of_a);
        assert_eq!(table.ids_of_app(&AppId::new("/a")).cloned().collect::<Vec<_>>(), of_a);

        // Replacing keeps one entry; the change is visible through every index.
        let mut running = a1.clone();
        running.condition = Condition::Running;
        table.insert(running.clone(), runtime(10));
        assert_eq!(table.values().count(), 3);
        assert_eq!(table.get(&a1.id), Some(&running));
        assert_eq!(table.runtime(&a1.id).map(|r| r.condition_changed.as_secs()), Some(10));
        assert_eq!(table.runtime(&a2.id).map(|r| r.condition_changed.as_secs()), Some(2));
        if let Some((_, r)) = table.get_mut_with_runtime(&b1.id) {
            r.condition_changed = std::time::Duration::from_secs(11);
        }
        let mut walked: Vec<(InstanceId, u64)> =
            table.with_runtimes().map(|(i, r)| (i.id.clone(), r.condition_changed.as_secs())).collect();
        walked.sort();
        let mut expected = vec![(a1.id.clone(), 10), (a2.id.clone(), 2), (b1.id.clone(), 11)];
        expected.sort();
        assert_eq!(walked, expected);
        table.update_app(&AppId::new("/a"), |i| i.incarnation = 7);
        assert!(table.of_app(&AppId::new("/a")).all(|i| i.incarnation == 7));
        assert_eq!(table.get(&b1.id).map(|i| i.incarnation), Some(0));
        if let Some(i) = table.get_mut(&b1.id) {
            i.incarnation = 9;
        }
        assert_eq!(table.of_app(&AppId::new("/b")).map(|i| i.incarnation).collect::<Vec<_>>(), vec![9]);

        // Removal frees the slot for the next insert and empties the app's index.
        assert_eq!(table.remove(&b1.id).map(|i| i.id), Some(b1.id.clone()));
        assert_eq!(table.remove(&b1.id), None);
        assert!(!table.contains_key(&b1.id));
        assert_eq!(table.of_app(&AppId::new("/b")).count(), 0);
        assert!(!table.by_app.contains_key(&AppId::new("/b")));
        let b2 = instance("/b", 4);
        assert_eq!(table.runtime(&b1.id).map(|r| r.condition_changed), None);
        table.insert(b2.clone(), runtime(12));
        assert_eq!(table.slots.len(), 3, "the freed slot is reused");
        assert_eq!(ids(table.of_app(&AppId::new("/b"))), vec![b2.id.clone()]);
        assert_eq!(table.get(&a2.id).map(|i| (&i.id, i.incarnation)), Some((&a2.id, 7)));
    }
}
