//! The `webhook` command: the ingest server, `send` (a signed test
//! request) and the operator tools (`dlq`, `stats`). Workers are your own binaries, since they hold your
//! handlers; they can offer the same operator subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The ingest allocates and frees a few buffers per request from two
/// runtime threads; with glibc's allocator that was a fifth of its CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use webhook_worker::ingest::{self, IngestConfig};

#[derive(Parser)]
#[command(
    name = "webhook",
    version,
    about = "Verified webhooks into Redis streams"
)]
struct Cli {
    /// How log lines are written: `text`, or `json` for log shippers.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    log_format: webhook_worker::logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// Run the ingest server: verify webhooks and store them in Redis.
    ///
    /// Secrets come from the environment or files named in the config,
    /// never from flags. REDIS_URL and WEBHOOK_LISTEN override the file.
    Ingest {
        /// The configuration file.
        #[arg(long, short, default_value = "webhooks.toml")]
        config: PathBuf,
    },
    /// Create a worker crate to start an application from: one typed
    /// handler, its unit tests, a `webhooks.toml` for the ingest and a
    /// sample event.
    New {
        /// The directory to create (must be missing or empty).
        dir: PathBuf,
        /// The package name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// The framework checkout to depend on (default: the one this
        /// command was built from).
        #[arg(long, conflicts_with = "git")]
        path: Option<PathBuf>,
        /// Depend on the framework from this git repository instead.
        #[arg(long)]
        git: Option<String>,
    },
    /// Send a test request to the ingest, signed with a source's own
    /// secret exactly as its provider signs (current timestamp, fresh ids).
    ///
    /// Prints each answer's status and body on stdout, one line per
    /// request, and what it added to the body on stderr. Exits 0 when
    /// every answer was 2xx, 1 otherwise.
    Send(webhook_worker::cli::send::SendArgs),
    #[command(flatten)]
    Ops(webhook_worker::cli::OpsCommand),
}

fn new(
    dir: &std::path::Path,
    name: Option<&str>,
    path: Option<PathBuf>,
    git: Option<String>,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    use webhook_worker::scaffold::{self, Framework};
    let framework = match (path, git) {
        (Some(path), _) => Framework::Path(std::path::absolute(&path).unwrap_or(path)),
        (None, Some(url)) => Framework::Git(url),
        (None, None) => Framework::built_from().ok_or_else(|| {
            anyhow::anyhow!(
                "the checkout this command was built from is gone; pass --path <your clone> \
                 or --git <repository url>"
            )
        })?,
    };
    let created = scaffold::create(dir, name, &framework)?;
    let mut out = std::io::stdout().lock();
    let shown = created.dir.display();
    writeln!(out, "created {} in {shown}:", created.name)?;
    for file in &created.files {
        writeln!(out, "  {file}")?;
    }
    writeln!(
        out,
        "next: cd {shown} && cargo test; then see its README.md"
    )?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Lines are written by a thread of their own: the ingest logs one per
    // request. The guard writes what is left when `main` returns.
    let _logs = webhook_worker::logging::init_non_blocking(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Ingest { config } => {
                let settings = IngestConfig::load(&config)
                    .and_then(|c| c.resolve(&|name| std::env::var(name).ok()))
                    .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
                ingest::serve(settings, webhook_worker::shutdown_signal()).await?;
                Ok::<ExitCode, anyhow::Error>(ExitCode::SUCCESS)
            }
            Command::Send(args) => {
                let all_ok = webhook_worker::cli::send::send(
                    args,
                    &|name| std::env::var(name).ok(),
                    &mut std::io::stdout(),
                    &mut std::io::stderr(),
                )
                .await?;
                Ok(if all_ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            Command::New {
                dir,
                name,
                path,
                git,
            } => new(&dir, name.as_deref(), path, git).map(|()| ExitCode::SUCCESS),
            Command::Ops(command) => {
                webhook_worker::cli::run_stdout(command).await?;
                Ok(ExitCode::SUCCESS)
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            // Each error's message already includes its cause.
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
