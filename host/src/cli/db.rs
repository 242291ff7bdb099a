//! `interlink db`: the operator's database commands.

use anyhow::{Result, bail};
use clap::Subcommand;

use interlink::storage::{self, DatabaseUrl};

#[derive(Subcommand)]
pub enum Command {
    /// Copy a host's SQLite database into a new PostgreSQL database, all or
    /// nothing, to move the host to PostgreSQL. Stop the host first; start
    /// it again with `--database-url` and the same data folder (whose secret
    /// key the copied credentials are sealed with).
    Copy {
        /// The SQLite database: `sqlite://data/interlink.db`.
        #[arg(long)]
        from: String,
        /// The PostgreSQL database, which must hold no data:
        /// `postgres://user:password@host/name`.
        #[arg(long, env = "INTERLINK_DATABASE_URL", hide_env_values = true)]
        to: String,
    },
}

/// Runs one of the commands.
///
/// # Errors
///
/// `copy`: `--from` is not an `sqlite://` URL, or `--to` not a PostgreSQL
/// one; the copy failed ([`storage::copy::sqlite_to_postgres`]), and
/// nothing was copied.
pub async fn run(command: Command) -> Result<()> {
    match command {
        Command::Copy { from, to } => {
            let (DatabaseUrl::Sqlite(from), DatabaseUrl::Postgres(to)) =
                (DatabaseUrl::parse(&from)?, DatabaseUrl::parse(&to)?)
            else {
                bail!("copies go from sqlite://... to postgres://...");
            };
            let copied = storage::copy::sqlite_to_postgres(&from, &to).await?;
            for (table, rows) in &copied {
                println!("{table:<22} {rows:>10} rows");
            }
            println!(
                "copied {} into {}",
                from.display(),
                DatabaseUrl::Postgres(to.clone())
            );
            Ok(())
        }
    }
}
