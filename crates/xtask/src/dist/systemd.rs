//! Just enough of systemd's file formats to start a packaged unit's `ExecStart` by hand as
//! systemd would (tests on machines without a running systemd): a unit's `[Service]` settings,
//! and `EnvironmentFile=` syntax.

/// A unit file's settings, by section, in file order.
#[derive(Debug, Clone, Default)]
pub struct Unit {
    entries: Vec<(String, String, String)>,
}

impl Unit {
    pub fn parse(text: &str) -> Unit {
        let mut section = String::new();
        let mut entries = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_string();
            } else if let Some((key, value)) = line.split_once('=') {
                entries.push((section.clone(), key.trim().to_string(), value.trim().to_string()));
            }
        }
        Unit { entries }
    }

    /// The values of `key` in `section`, in order.
    pub fn get(&self, section: &str, key: &str) -> Vec<String> {
        self.entries.iter().filter(|(s, k, _)| s == section && k == key).map(|(_, _, v)| v.clone()).collect()
    }

    /// The values of `key` in `[Service]`.
    pub fn service(&self, key: &str) -> Vec<String> {
        self.get("Service", key)
    }

    /// The environment systemd gives `ExecStart`: every `Environment=` assignment, then every
    /// `EnvironmentFile=` in order (a later file wins; a file named with `-` may be missing).
    /// `read` returns a file's text, `None` when it does not exist.
    pub fn environment(&self, read: impl Fn(&str) -> Option<String>) -> Result<Vec<(String, String)>, String> {
        let mut env: Vec<(String, String)> = Vec::new();
        let mut set = |key: String, value: String| {
            env.retain(|(k, _)| *k != key);
            env.push((key, value));
        };
        for assignments in self.service("Environment") {
            for word in split_words(&assignments) {
                if let Some((key, value)) = word.split_once('=') {
                    set(key.to_string(), value.to_string());
                }
            }
        }
        for file in self.service("EnvironmentFile") {
            let (optional, path) = match file.strip_prefix('-') {
                Some(path) => (true, path),
                None => (false, file.as_str()),
            };
            match read(path) {
                Some(text) => parse_environment_file(&text).into_iter().for_each(|(k, v)| set(k, v)),
                None if optional => {}
                None => return Err(format!("EnvironmentFile {path} is missing")),
            }
        }
        Ok(env)
    }
}

/// `KEY=value` lines of an `EnvironmentFile=`: `#` and `;` start comments, values may be quoted
/// (`"..."` with backslash escapes, `'...'`), whitespace around the key and value is dropped.
pub fn parse_environment_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .map(|(key, value)| (key.trim().to_string(), unquote(value.trim())))
        .collect()
}

fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                out.extend(chars.next());
            } else {
                out.push(c);
            }
        }
        return out;
    }
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.to_string(),
        None => value.to_string(),
    }
}

/// `ExecStart=` and `Environment=` words: split at whitespace, double quotes group.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_override_environment_in_order_and_optional_ones_may_be_missing() {
        let unit = Unit::parse(
            "[Unit]\nDescription=x\n[Service]\nEnvironment=A=unit \"B=two words\"\n\
             EnvironmentFile=-/etc/default/one\nEnvironmentFile=-/etc/default/gone\n\
             EnvironmentFile=-/etc/default/two\nExecStart=/usr/bin/marathon scheduler\n",
        );
        let files = |path: &str| match path {
            "/etc/default/one" => Some("# comment\nA=one\nC = \"quoted \\\"x\\\"\"\n;D=no\n".to_string()),
            "/etc/default/two" => Some("C='single'\nE=\n".to_string()),
            _ => None,
        };
        let env = unit.environment(files).expect("environment");
        let get = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A"), Some("one"));
        assert_eq!(get("B"), Some("two words"));
        assert_eq!(get("C"), Some("single"));
        assert_eq!(get("D"), None);
        assert_eq!(get("E"), Some(""));
        assert_eq!(unit.service("ExecStart"), vec!["/usr/bin/marathon scheduler".to_string()]);
        let strict = Unit::parse("[Service]\nEnvironmentFile=/etc/default/gone\n");
        assert!(strict.environment(|_| None).is_err());
    }
}
