//! `netsuite-sim`: the NetSuite simulator as a program, for trying the
//! NetSuite adapter by hand (see the README, "Connect NetSuite").

use clap::Parser;
use netsuite_sim::Simulator;
use serde_json::json;

#[derive(Parser)]
#[command(about = "A NetSuite simulator: M2M OAuth 2.0 and the REST record API")]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:9300")]
    listen: std::net::SocketAddr,
    /// The account id it simulates.
    #[arg(long, default_value = "1234567")]
    account: String,
    /// An uploaded certificate, as CERTIFICATE_ID:CLIENT_ID:PATH_TO_PEM,
    /// mapped to a role with every permission the adapter uses. Repeatable.
    #[arg(long = "certificate")]
    certificates: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sim = Simulator::serve(&args.account, args.listen).await?;
    for spec in &args.certificates {
        let mut parts = spec.splitn(3, ':');
        let (Some(id), Some(client), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            anyhow::bail!("--certificate takes CERTIFICATE_ID:CLIENT_ID:PATH_TO_PEM, not `{spec}`");
        };
        let pem = std::fs::read_to_string(path)?;
        sim.register_certificate(id, client, &pem, netsuite_sim::full_role())
            .map_err(|e| anyhow::anyhow!("NetSuite would refuse certificate {path}: {e}"))?;
    }
    let vendor = sim.insert(
        "vendor",
        json!({"companyName": "Acme Supplies", "email": "orders@acme.example"}),
    );
    sim.insert(
        "inventoryItem",
        json!({"itemId": "BOLT-10", "displayName": "Bolt M10", "cost": 0.25}),
    );
    sim.insert(
        "inventoryItem",
        json!({"itemId": "NUT-10", "displayName": "Nut M10", "cost": 0.1}),
    );
    eprintln!(
        "NetSuite simulator of account {} on {} (vendor {vendor} and two items seeded)",
        args.account,
        sim.url()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
