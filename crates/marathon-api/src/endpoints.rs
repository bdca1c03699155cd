//! `GET /v2/tasks` with `Accept: text/plain`: upstream's script-friendly listing
//! (`EndpointsHelper.appsToEndpointString`), one line per app and service port:
//! `<safe app id>\t<service port>\t<host>:<host port>\t…\n`, running tasks only. An app without
//! service ports gets one line `<safe app id>\t \t<host>\t<host>\t…\n`.

use crate::PathId;

/// What the listing needs of one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointApp {
    pub id: PathId,
    pub service_ports: Vec<u32>,
    /// Whether upstream lists the app: apps without an IP per task, or Docker containers.
    pub listed: bool,
    /// The running tasks: agent host and host ports (by port index).
    pub running: Vec<(String, Vec<u32>)>,
}

/// The tab-separated listing of `apps` (upstream's delimiter is a tab).
pub fn endpoints_text(apps: &[EndpointApp]) -> String {
    const DELIMITER: char = '\t';
    let mut out = String::new();
    for app in apps.iter().filter(|app| app.listed) {
        let id = app.id.safe_id();
        if app.service_ports.is_empty() {
            out.push_str(&id);
            out.push(DELIMITER);
            out.push(' ');
            out.push(DELIMITER);
            for (host, _) in &app.running {
                out.push_str(host);
                out.push(DELIMITER);
            }
            out.push('\n');
            continue;
        }
        for (i, port) in app.service_ports.iter().enumerate() {
            out.push_str(&id);
            out.push(DELIMITER);
            out.push_str(&port.to_string());
            out.push(DELIMITER);
            for (host, ports) in &app.running {
                // Upstream writes 0 when a task has no host port at this index.
                let port = ports.get(i).copied().unwrap_or(0);
                out.push_str(&format!("{host}:{port}{DELIMITER}"));
            }
            out.push('\n');
        }
    }
    out
}

/// The lines of a listing [`endpoints_text`] wrote whose app `visible` keeps (a reader with
/// rights on part of the tree sees only those apps, as in the JSON listing).
pub fn retain_visible_lines(text: &str, visible: &dyn Fn(&PathId) -> bool) -> String {
    text.split_inclusive('\n')
        .filter(|line| visible(&PathId::from_safe_id(line.split('\t').next().unwrap_or_default())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: &str, service_ports: Vec<u32>, running: Vec<(&str, Vec<u32>)>) -> EndpointApp {
        EndpointApp {
            id: PathId::parse(id),
            service_ports,
            listed: true,
            running: running.into_iter().map(|(h, p)| (h.to_string(), p)).collect(),
        }
    }

    #[test]
    fn one_line_per_service_port_with_host_ports_of_running_tasks() {
        let apps = [
            app("/g/web", vec![10000, 10001], vec![("a1", vec![31000, 31001]), ("a2", vec![31005])]),
            app("/noports", vec![], vec![("a1", vec![]), ("a3", vec![])]),
        ];
        assert_eq!(
            endpoints_text(&apps),
            "g_web\t10000\ta1:31000\ta2:31005\t\ng_web\t10001\ta1:31001\ta2:0\t\nnoports\t \ta1\ta3\t\n"
        );
    }

    #[test]
    fn lines_of_apps_a_reader_may_not_see_are_cut() {
        let text = "dev_a\t10000\th:1\t\nprod_b\t10001\t\ndev_c\t \th\t\n";
        let dev = PathId::parse("/dev");
        assert_eq!(retain_visible_lines(text, &|id| id.starts_with(&dev)), "dev_a\t10000\th:1\t\ndev_c\t \th\t\n");
    }

    #[test]
    fn unlisted_apps_and_apps_without_tasks() {
        let mut hidden = app("/ipt", vec![10000], vec![("a1", vec![1])]);
        hidden.listed = false;
        assert_eq!(endpoints_text(&[hidden, app("/idle", vec![10002], vec![])]), "idle\t10002\t\n");
    }
}
