//! The apps' stored definitions (the API's full form) and, kept with each, its API JSON written
//! once per change ([`RenderedApp`]) for listings to copy. Changing a definition only through
//! this type is what keeps the two in step.

use crate::core::AppId;
use marathon_api::{AppDefinition, RenderedApp};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct Definitions {
    apps: BTreeMap<AppId, Entry>,
}

/// A definition and its API JSON.
#[derive(Debug)]
struct Entry {
    def: AppDefinition,
    rendered: RenderedApp,
}

impl Entry {
    fn new(def: AppDefinition) -> Self {
        Entry { rendered: RenderedApp::new(&def), def }
    }

    fn parts(&self) -> (&AppDefinition, &RenderedApp) {
        debug_assert_eq!(self.rendered, RenderedApp::new(&self.def), "stale rendering of {}", self.def.id);
        (&self.def, &self.rendered)
    }
}

impl Definitions {
    pub(crate) fn new(defs: BTreeMap<AppId, AppDefinition>) -> Self {
        Self { apps: defs.into_iter().map(|(id, def)| (id, Entry::new(def))).collect() }
    }

    pub(crate) fn get(&self, id: &AppId) -> Option<&AppDefinition> {
        self.apps.get(id).map(|entry| &entry.def)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &AppDefinition> {
        self.apps.values().map(|entry| &entry.def)
    }

    /// Every definition with its API JSON without extras, in id order.
    pub(crate) fn with_rendered(&self) -> impl Iterator<Item = (&AppId, &AppDefinition, &RenderedApp)> {
        self.apps.iter().map(|(id, entry)| {
            let (def, rendered) = entry.parts();
            (id, def, rendered)
        })
    }

    /// The definition of `id` with its API JSON without extras.
    pub(crate) fn get_with_rendered(&self, id: &AppId) -> Option<(&AppDefinition, &RenderedApp)> {
        self.apps.get(id).map(Entry::parts)
    }

    /// Sets (or with `None` removes) the definition of `id`; the one it replaces.
    pub(crate) fn set(&mut self, id: &AppId, def: Option<AppDefinition>) -> Option<AppDefinition> {
        let old = match def {
            Some(def) => self.apps.insert(id.clone(), Entry::new(def)),
            None => self.apps.remove(id),
        };
        old.map(|entry| entry.def)
    }

    /// Replaces the definition of `id`, if there is one, with `f` of it.
    pub(crate) fn update(&mut self, id: &AppId, f: impl FnOnce(&AppDefinition) -> AppDefinition) {
        if let Some(entry) = self.apps.get_mut(id) {
            *entry = Entry::new(f(&entry.def));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use marathon_api::{PathId, normalize, parse_app};

    fn def(id: &str, cmd: &str) -> AppDefinition {
        let body = format!(r#"{{"id":"{id}","cmd":"{cmd}"}}"#);
        normalize(parse_app(body.as_bytes()).expect("parse"), &PathId::root()).expect("valid")
    }

    fn listed(defs: &Definitions) -> Vec<(String, String, RenderedApp)> {
        defs.with_rendered()
            .map(|(id, def, rendered)| (id.as_str().to_string(), def.id.clone(), rendered.clone()))
            .collect()
    }

    #[test]
    fn renderings_follow_their_definitions() {
        let (a, b, c) = (AppId::new("/a"), AppId::new("/b"), AppId::new("/c"));
        let mut defs = Definitions::new([(b.clone(), def("/b", "sleep 1"))].into());
        defs.set(&c, Some(def("/c", "sleep 1")));
        defs.set(&a, Some(def("/a", "sleep 1")));
        defs.update(&b, |old| AppDefinition { cmd: Some("sleep 2".into()), ..old.clone() });
        defs.set(&c, None);
        let expected = [("/a", def("/a", "sleep 1")), ("/b", def("/b", "sleep 2"))];
        let expected: Vec<_> =
            expected.iter().map(|(id, d)| (id.to_string(), d.id.clone(), RenderedApp::new(d))).collect();
        assert_eq!(listed(&defs), expected);
        let (found, rendered) = defs.get_with_rendered(&b).expect("b");
        assert_eq!(found.cmd.as_deref(), Some("sleep 2"));
        assert_eq!(*rendered, RenderedApp::new(found));
        assert!(defs.get_with_rendered(&c).is_none());
    }
}
