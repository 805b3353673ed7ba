//! `webhook new <dir>`: a ready worker crate to start an application from.
//!
//! The crate has one typed handler (Stripe `payment_intent.succeeded`),
//! unit tests with the [`TestHarness`](webhook_core::testing::TestHarness),
//! a `webhooks.toml` for the ingest with the secret read from the
//! environment, a sample `event.json` for `webhook send`, and a README of
//! the next commands.

use std::path::{Path, PathBuf};

/// Where the new crate gets the framework from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Framework {
    /// A checkout of the framework on this machine.
    Path(PathBuf),
    /// A git repository holding the framework.
    Git(String),
}

impl Framework {
    /// The checkout this command was built from, if it is still there: the
    /// default for `webhook new` installed with `cargo install --path`.
    pub fn built_from() -> Option<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
        is_checkout(root).then(|| Self::Path(root.to_path_buf()))
    }

    /// The `[dependencies]` line for the framework.
    fn dependency(&self) -> String {
        match self {
            Self::Path(path) => format!(
                "webhook-kit = {{ path = {} }}",
                toml_string(&path.to_string_lossy())
            ),
            Self::Git(url) => format!("webhook-kit = {{ git = {} }}", toml_string(url)),
        }
    }
}

/// Whether `dir` is a checkout of the framework: its root manifest names
/// the facade package.
pub fn is_checkout(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|manifest| manifest.contains("name = \"webhook-kit\""))
}

/// Why no crate was created; nothing was written unless the message says
/// otherwise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScaffoldError {
    /// The directory exists and holds files.
    #[error("{0} already exists and is not empty; choose a new directory")]
    NotEmpty(PathBuf),
    /// The package name is not a valid crate name.
    #[error(
        "`{0}` is not a valid package name: use lower-case letters, digits, `-` and `_`, \
         starting with a letter; pass --name to choose one"
    )]
    BadName(String),
    /// A path given as the framework checkout is not one.
    #[error(
        "{0} is not a checkout of this framework (its Cargo.toml does not name `webhook-kit`); \
         pass the directory you cloned"
    )]
    NotACheckout(PathBuf),
    /// Writing a file failed.
    #[error("cannot write {path}: {source}; files written so far are left in place")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// What was created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    /// The crate's directory.
    pub dir: PathBuf,
    /// Its package name.
    pub name: String,
    /// The files written, relative to `dir`.
    pub files: Vec<&'static str>,
}

const CARGO_TOML: &str = include_str!("../templates/app/Cargo.toml.tmpl");
const MAIN_RS: &str = include_str!("../templates/app/main.rs");
const WEBHOOKS_TOML: &str = include_str!("../templates/app/webhooks.toml");
const EVENT_JSON: &str = include_str!("../templates/app/event.json");
const README_MD: &str = include_str!("../templates/app/README.md.tmpl");
const GITIGNORE: &str = include_str!("../templates/app/gitignore");

/// Writes a new worker crate into `dir` (created if missing; it must be
/// empty), named `name` or after the directory. When `framework` is a
/// checkout with a `Cargo.lock`, the crate starts from it, so it builds
/// with the dependency versions the framework was tested with.
pub fn create(
    dir: &Path,
    name: Option<&str>,
    framework: &Framework,
) -> Result<Created, ScaffoldError> {
    let name = match name {
        Some(name) => name.to_owned(),
        None => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if !valid_name(&name) {
        return Err(ScaffoldError::BadName(name.escape_debug().to_string()));
    }
    if let Framework::Path(path) = framework
        && !is_checkout(path)
    {
        return Err(ScaffoldError::NotACheckout(path.clone()));
    }
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(ScaffoldError::NotEmpty(dir.to_path_buf()));
    }
    let fill = |template: &str| {
        template
            .replace("{{name}}", &name)
            .replace("{{framework}}", &framework.dependency())
    };
    let mut files: Vec<(&'static str, String)> = vec![
        ("Cargo.toml", fill(CARGO_TOML)),
        ("src/main.rs", MAIN_RS.to_owned()),
        ("webhooks.toml", WEBHOOKS_TOML.to_owned()),
        ("event.json", EVENT_JSON.to_owned()),
        ("README.md", fill(README_MD)),
        (".gitignore", GITIGNORE.to_owned()),
    ];
    if let Framework::Path(path) = framework
        && let Ok(lock) = std::fs::read_to_string(path.join("Cargo.lock"))
    {
        files.push(("Cargo.lock", lock));
    }
    let write = |relative: &str, text: &str| {
        let path = dir.join(relative);
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent)
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|source| ScaffoldError::Write { path, source })
    };
    for (relative, text) in &files {
        write(relative, text)?;
    }
    Ok(Created {
        dir: dir.to_path_buf(),
        name,
        files: files.iter().map(|(relative, _)| *relative).collect(),
    })
}

/// A name Cargo accepts for a package and that is an identifier once `-`
/// becomes `_`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.len() <= 64
}

/// A TOML basic string: JSON's escapes are a subset of TOML's.
fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| String::from("\"\""))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names_follow_cargo() {
        assert!(valid_name("shop-worker"));
        assert!(valid_name("a1_b"));
        for bad in ["", "1app", "App", "my app", "-x", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn dependency_lines_are_valid_toml() {
        let path = Framework::Path(PathBuf::from(r#"/home/a "b"\c"#)).dependency();
        let parsed: toml::Table = toml::from_str(&path).unwrap();
        assert_eq!(
            parsed["webhook-kit"]["path"].as_str(),
            Some(r#"/home/a "b"\c"#)
        );
        let git = Framework::Git("https://example.com/webhook.git".into()).dependency();
        let parsed: toml::Table = toml::from_str(&git).unwrap();
        assert_eq!(
            parsed["webhook-kit"]["git"].as_str(),
            Some("https://example.com/webhook.git")
        );
    }

    #[test]
    fn this_checkout_is_found() {
        assert!(matches!(Framework::built_from(), Some(Framework::Path(_))));
    }
}
