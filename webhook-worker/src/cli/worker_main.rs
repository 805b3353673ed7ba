//! The whole `main` of a worker binary.

use super::{OpsCommand, run_stdout};

/// A worker binary's command line: the worker's flags, or one of the
/// operator subcommands (which, from a worker binary, know its handlers).
#[derive(Debug, clap::Parser)]
#[command(about = "A webhook worker, and the operator tools for its queues")]
// The worker's flags belong to running the worker; a subcommand takes its
// own (`my-worker dlq list --redis-url ...`), never the worker's silently.
#[command(args_conflicts_with_subcommands = true)]
pub struct WorkerCli {
    /// An operator subcommand; without one, the worker runs.
    #[command(subcommand)]
    pub command: Option<OpsCommand>,
    /// The worker's settings.
    #[command(flatten)]
    pub worker: crate::worker::WorkerArgs,
}

/// What the set-up of [`worker_main`] may fail with: any error, shown to
/// the operator with `error: ` before it.
pub type SetupError = Box<dyn std::error::Error + Send + Sync>;

/// The whole `main` of a worker binary: parses [`WorkerCli`], installs the
/// default log output ([`crate::logging::init`]; a subscriber installed
/// before keeps its place), then either runs an operator subcommand
/// (`dlq`, `stats`, `handlers`) or, to run the worker itself, awaits
/// `setup` (connect the database, add state, override settings) and runs
/// the worker until SIGINT/SIGTERM. `setup` runs only for the worker, so the
/// operator subcommands work while the app's database is down. Returns the
/// exit code: 1 with the error on standard error when set-up or the worker
/// fails.
///
/// ```no_run
/// # struct Pool;
/// # async fn connect() -> Result<Pool, std::io::Error> { Ok(Pool) }
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() -> std::process::ExitCode {
///     webhook_worker::cli::worker_main(async |worker| {
///         let pool = connect().await?;
///         Ok(worker.state(pool))
///     })
///     .await
/// }
/// ```
pub async fn worker_main(
    setup: impl AsyncFnOnce(
        crate::worker::WorkerBuilder,
    ) -> Result<crate::worker::WorkerBuilder, SetupError>,
) -> std::process::ExitCode {
    use clap::Parser as _;
    let cli = WorkerCli::parse();
    crate::logging::init();
    let result: Result<(), String> = match cli.command {
        Some(command) => run_stdout(command).await.map_err(|e| e.to_string()),
        None => {
            let builder = crate::worker::Worker::builder().settings(cli.worker.into());
            match setup(builder).await {
                Err(error) => Err(format!("the worker's set-up failed: {error}")),
                Ok(builder) => match builder.build() {
                    Ok(worker) => worker
                        .run(crate::shutdown_signal())
                        .await
                        .map_err(|e| e.to_string()),
                    Err(error) => Err(error.to_string()),
                },
            }
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {error}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
