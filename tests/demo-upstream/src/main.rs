//! `demo-upstream [ADDR] [API_KEY]`: runs the demo procurement API (default
//! `127.0.0.1:8088`, key `demo-key`) until interrupted.

use demo_upstream::{DemoUpstream, Options};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8088".into())
        .parse()?;
    let mut options = Options::default();
    if let Some(key) = args.next() {
        options.api_key = key;
    }
    let upstream = DemoUpstream::start(addr, options).await?;
    eprintln!("demo-upstream listening on {}", upstream.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
