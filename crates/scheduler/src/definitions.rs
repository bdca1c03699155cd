//! The apps' stored definitions (the API's full form) and, kept with each, its API JSON written
//! once per change ([`RenderedApp`]) for listings to copy. Changing a definition only through
//! this type is what keeps the two in step.

use crate::core::AppId;
use marathon_api::{AppDefinition, RenderedApp};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Default)]
pub(crate) struct Definitions {
    defs: BTreeMap<AppId, AppDefinition>,
    rendered: BTreeMap<AppId, Arc<RenderedApp>>,
}

impl Definitions {
    pub(crate) fn new(defs: BTreeMap<AppId, AppDefinition>) -> Self {
        let rendered = defs.iter().map(|(id, def)| (id.clone(), Arc::new(RenderedApp::new(def)))).collect();
        Self { defs, rendered }
    }

    pub(crate) fn get(&self, id: &AppId) -> Option<&AppDefinition> {
        self.defs.get(id)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &AppDefinition> {
        self.defs.values()
    }

    pub(crate) fn as_map(&self) -> &BTreeMap<AppId, AppDefinition> {
        &self.defs
    }

    /// The API JSON of `def` (one of these definitions) without extras.
    pub(crate) fn rendered(&self, def: &AppDefinition) -> Arc<RenderedApp> {
        match self.rendered.get(&AppId::new(&def.id)) {
            Some(rendered) => {
                debug_assert_eq!(**rendered, RenderedApp::new(def), "stale rendering of {}", def.id);
                rendered.clone()
            }
            None => Arc::new(RenderedApp::new(def)),
        }
    }

    /// Sets (or with `None` removes) the definition of `id`; the one it replaces.
    pub(crate) fn set(&mut self, id: &AppId, def: Option<AppDefinition>) -> Option<AppDefinition> {
        match def {
            Some(def) => {
                self.rendered.insert(id.clone(), Arc::new(RenderedApp::new(&def)));
                self.defs.insert(id.clone(), def)
            }
            None => {
                self.rendered.remove(id);
                self.defs.remove(id)
            }
        }
    }

    /// Replaces the definition of `id`, if there is one, with `f` of it.
    pub(crate) fn update(&mut self, id: &AppId, f: impl FnOnce(&AppDefinition) -> AppDefinition) {
        if let Some(def) = self.defs.get_mut(id) {
            *def = f(def);
            self.rendered.insert(id.clone(), Arc::new(RenderedApp::new(def)));
        }
    }
}
