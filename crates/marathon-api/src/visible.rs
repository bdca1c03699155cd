//! Listings cut down to what a reader may see (`--acl_file`): the entries of `/v2/apps`,
//! `/v2/apps/<group>/*`, `/v2/groups` (the tree), `/v2/tasks`, `/v2/queue` and
//! `/v2/deployments` whose app, pod or group `visible` refuses are removed.

use serde_json::Value as Json;

/// Removes from a listing (any of the shapes above) what `visible` refuses. A group stays when
/// `visible` accepts its id or something in it stays; a deployment when every app and pod it
/// affects is visible; an entry of unknown shape goes.
pub fn retain_visible(body: &mut Json, visible: &dyn Fn(&str) -> bool) {
    match body {
        Json::Array(deployments) => deployments.retain(|d| deployment_visible(d, visible)),
        Json::Object(map) => {
            for (key, id_of) in [("apps", &id as &dyn Fn(&Json) -> Option<&str>), ("pods", &id), ("*", &id)] {
                if let Some(Json::Array(items)) = map.get_mut(key) {
                    items.retain(|item| id_of(item).is_some_and(visible));
                }
            }
            if let Some(Json::Array(tasks)) = map.get_mut("tasks") {
                tasks.retain(|t| t["appId"].as_str().is_some_and(visible));
            }
            if let Some(Json::Array(queue)) = map.get_mut("queue") {
                queue.retain(|q| q["app"]["id"].as_str().or_else(|| q["pod"]["id"].as_str()).is_some_and(visible));
            }
            if let Some(Json::Array(groups)) = map.get_mut("groups") {
                for group in groups.iter_mut() {
                    retain_visible(group, visible);
                }
                groups.retain(|g| id(g).is_some_and(visible) || !is_empty_group(g));
            }
        }
        _ => {}
    }
}

fn id(item: &Json) -> Option<&str> {
    item["id"].as_str()
}

fn is_empty_group(group: &Json) -> bool {
    ["apps", "pods", "groups"].iter().all(|key| group[*key].as_array().is_none_or(Vec::is_empty))
}

fn deployment_visible(deployment: &Json, visible: &dyn Fn(&str) -> bool) -> bool {
    let affected: Vec<&str> = ["affectedApps", "affectedPods"]
        .iter()
        .flat_map(|key| deployment[*key].as_array().into_iter().flatten())
        .filter_map(Json::as_str)
        .collect();
    !affected.is_empty() && affected.into_iter().all(visible)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dev(id: &str) -> bool {
        id == "/dev" || id.starts_with("/dev/")
    }

    #[test]
    fn listings_keep_only_what_is_visible() {
        let mut apps = json!({"apps": [{"id": "/dev/a"}, {"id": "/prod/b"}]});
        retain_visible(&mut apps, &dev);
        assert_eq!(apps, json!({"apps": [{"id": "/dev/a"}]}));
        let mut tasks = json!({"tasks": [{"appId": "/prod/b"}, {"appId": "/dev/a"}]});
        retain_visible(&mut tasks, &dev);
        assert_eq!(tasks, json!({"tasks": [{"appId": "/dev/a"}]}));
        let mut queue = json!({"queue": [{"app": {"id": "/prod/b"}}, {"pod": {"id": "/dev/p"}}]});
        retain_visible(&mut queue, &dev);
        assert_eq!(queue, json!({"queue": [{"pod": {"id": "/dev/p"}}]}));
        let mut deployments = json!([
            {"affectedApps": ["/dev/a"], "affectedPods": []},
            {"affectedApps": ["/dev/a", "/prod/b"], "affectedPods": []},
            {"affectedApps": [], "affectedPods": []},
        ]);
        retain_visible(&mut deployments, &dev);
        assert_eq!(deployments, json!([{"affectedApps": ["/dev/a"], "affectedPods": []}]));
        let mut versions = json!(["2026-01-01T00:00:00.000Z"]);
        retain_visible(&mut versions, &dev);
        assert_eq!(versions, json!([]));
    }

    #[test]
    fn a_group_tree_keeps_the_groups_on_the_way_to_what_is_visible() {
        let mut root = json!({"id": "/", "apps": [{"id": "/top"}], "groups": [
            {"id": "/dev", "apps": [{"id": "/dev/a"}], "groups": []},
            {"id": "/prod", "apps": [{"id": "/prod/b"}], "groups": [
                {"id": "/prod/dev", "apps": [{"id": "/prod/dev/c"}], "groups": []}]},
            {"id": "/team", "apps": [], "groups": [{"id": "/team/dev", "apps": [], "groups": []}]},
        ]});
        retain_visible(&mut root, &|id| dev(id) || id.starts_with("/prod/dev"));
        assert_eq!(
            root,
            json!({"id": "/", "apps": [], "groups": [
                {"id": "/dev", "apps": [{"id": "/dev/a"}], "groups": []},
                {"id": "/prod", "apps": [], "groups": [
                    {"id": "/prod/dev", "apps": [{"id": "/prod/dev/c"}], "groups": []}]},
            ]})
        );
    }
}
