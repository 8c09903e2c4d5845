//! `bench-issuer`: the test OIDC issuer (`smcp_test_support::issuer`) on loopback for the
//! comparison's OIDC rows. It serves discovery and JWKS for one key, prints one JSON line
//! `{"issuer": ..., "jwks_uri": ..., "token": ...}` with a token for `--audience`, and serves
//! until its standard input closes or it is killed. With `--dpop-key-out FILE` it also makes a
//! DPoP key (written there as PKCS#8 PEM) and prints `dpop_token`, the same token bound to it
//! (`cnf.jkt`), for the DPoP rows.

use clap::Parser;
use serde_json::json;
use smcp_test_support::issuer::{SigningKey, TestIssuer, unix_now};

#[derive(Parser)]
#[command(about = "A loopback OIDC issuer that prints one bearer token")]
struct Cli {
    /// The token's `aud`.
    #[arg(long)]
    audience: String,
    /// Signing algorithm: RS256, ES256 or EdDSA.
    #[arg(long, default_value = "RS256")]
    alg: String,
    /// The token's `sub`.
    #[arg(long, default_value = "bench-client")]
    subject: String,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    lifetime: u64,
    /// Also make a DPoP key (P-256), write it here, and print `dpop_token`, bound to it.
    #[arg(long)]
    dpop_key_out: Option<std::path::PathBuf>,
    /// The same with an Ed25519 key: `dpop_eddsa_token`.
    #[arg(long)]
    dpop_eddsa_key_out: Option<std::path::PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let key = match cli.alg.as_str() {
        "RS256" => SigningKey::rsa("bench-rsa"),
        "ES256" => SigningKey::ec_p256("bench-ec"),
        "EdDSA" => SigningKey::ed25519("bench-ed"),
        other => anyhow::bail!("unsupported --alg {other} (RS256, ES256 or EdDSA)"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let issuer = TestIssuer::start(vec![key.clone()]).await?;
        let mut claims = issuer.claims(&cli.subject, &cli.audience);
        claims["exp"] = json!(unix_now() + cli.lifetime);
        claims["scope"] = json!("mcp:tools");
        let token = issuer.mint(&key, &claims);
        let mut line =
            json!({"issuer": issuer.issuer(), "jwks_uri": issuer.jwks_uri(), "token": token});
        use smcp_auth::token_source::{DpopAlgorithm, DpopKey};
        for (path, algorithm, field) in [
            (&cli.dpop_key_out, DpopAlgorithm::Es256, "dpop_token"),
            (
                &cli.dpop_eddsa_key_out,
                DpopAlgorithm::EdDsa,
                "dpop_eddsa_token",
            ),
        ] {
            if let Some(path) = path {
                let dpop = DpopKey::generate_with(algorithm)?;
                std::fs::write(path, dpop.to_pem())?;
                claims["cnf"] = json!({"jkt": dpop.thumbprint()});
                line[field] = json!(issuer.mint(&key, &claims));
            }
        }
        println!("{line}");
        // Serve until stdin reaches EOF (the caller closed it or exited).
        let _ = tokio::task::spawn_blocking(|| {
            std::io::copy(&mut std::io::stdin(), &mut std::io::sink())
        })
        .await;
        drop(issuer);
        Ok(())
    })
}
